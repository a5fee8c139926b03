"""Held-out evaluation of a served encoder (dense or sparse) for promotion.

Each test query ranks the whole corpus (every passage of every split, ``finesweep.data.pairs``),
exactly as the sweep's trials were scored:
Recall@1/5/10, MRR@10 and nDCG@10 (one relevant passage per query, so nDCG is 1/log2(rank + 1)
inside the top 10). The paired bootstrap resamples queries. Latency is measured separately per
query and per passage, since a deployment encodes its corpus once and its queries one by one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from finesweep.files import folder_size_mb
from finesweep.tasks.base import HeldOut

RECALL_AT = (1, 5, 10)
_QUERY_CHUNK = 256  # queries ranked at once (their score rows are dense: chunk x corpus floats)


@dataclass(frozen=True)
class PairSplit:
    """A sweep's test split: queries, the whole corpus they rank and each one's relevant passage index."""

    queries: list[str]
    corpus: list[str]
    positive: list[int]
    fingerprint: str


def pair_test_split(dataset: Any) -> PairSplit:
    """Re-read the sweep's pairs with its recorded split recipe; return the test split."""
    from finesweep.data.pairs import prepare_pairs

    data = prepare_pairs(dataset, lambda value: Path(value))
    test = data.splits["test"]
    return PairSplit(list(test["query"]), list(test["corpus"]), list(test["positive"]), data.fingerprint)


def gold_ranks(queries: Any, corpus: Any, positive: list[int]) -> np.ndarray:
    """1-based rank of each query's relevant passage among all passages (ties ranked against it,
    as the trials' own evaluation does: a collapsed model scoring every passage alike ranks it last)."""
    ranks = np.empty(len(positive), dtype=np.int64)
    gold = np.asarray(positive)
    for start in range(0, len(positive), _QUERY_CHUNK):
        block = queries[start : start + _QUERY_CHUNK] @ corpus.T
        scores = np.asarray(block.toarray() if hasattr(block, "toarray") else block, dtype=np.float64)
        mine = scores[np.arange(len(scores)), gold[start : start + len(scores)]][:, None]
        ranks[start : start + len(scores)] = (scores >= mine).sum(axis=1)
    return ranks


def per_query_figures(ranks: np.ndarray) -> dict[str, np.ndarray]:
    """Each query's Recall@k, reciprocal rank@10 and nDCG@10, from its gold passage's rank."""
    top10 = ranks <= 10
    figures = {f"test_recall_at_{k}": (ranks <= k).astype(float) for k in RECALL_AT}
    figures["test_mrr_at_10"] = np.where(top10, 1.0 / ranks, 0.0)
    figures["test_ndcg_at_10"] = np.where(top10, 1.0 / np.log2(ranks + 1.0), 0.0)
    return figures


def evaluate_encoder(encoder: Any, split: PairSplit) -> HeldOut:
    """Encode the split's queries and the whole corpus once, rank, and score every query."""
    started = time.perf_counter()
    queries = encoder.encode(split.queries, "query")
    encoded = time.perf_counter()
    corpus = encoder.encode(split.corpus, "passage")
    finished = time.perf_counter()
    figures = per_query_figures(gold_ranks(queries, corpus, split.positive))
    metrics = {name: float(values.mean()) for name, values in figures.items()}
    latency = {
        "latency_ms_per_query": (encoded - started) * 1000 / max(len(split.queries), 1),
        "latency_ms_per_passage": (finished - encoded) * 1000 / max(len(split.corpus), 1),
    }

    def score(metric: str, rows: np.ndarray) -> float:
        return float(figures[metric][rows].mean())

    return HeldOut(metrics, len(split.queries), "query", folder_size_mb(encoder.model_dir), latency, score,
                   tuple(figures))  # fmt: skip
