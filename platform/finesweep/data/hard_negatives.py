"""Hard negatives for retrieval training, mined once per sweep with BM25 from the training corpus.

For each training query, the passages BM25 (``bm25s``, over the base tokenizer's tokens) ranks
highest, leaving out its positive and every passage of the positive's group (KorQuAD: the other
paragraphs of its Wikipedia article, which often answer the question too and would be false
negatives). InfoNCE then contrasts the query with these beside its in-batch negatives (Karpukhin
et al. 2020, DPR's BM25 negatives).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HARD_NEGATIVE_CACHE = "hard_negatives"
MINED_DEPTH = 64  # passages mined per query: train.hard_negatives allows at most this many


@dataclass(frozen=True)
class HardNegatives:
    """Per training query, training-corpus indices of BM25's best non-relevant passages, best first."""

    key: tuple[str, int]  # (tokenizer location, passages mined per query): what a trial checks
    negatives: list[list[int]]

    def first(self, count: int) -> list[list[int]]:
        """The ``count`` best negatives of each query (fewer when its corpus has fewer to give)."""
        return [row[:count] for row in self.negatives]


def mine_hard_negatives(
    query_tokens: list[list[str]], corpus_tokens: list[list[str]], positive: list[int], groups: list[str], depth: int
) -> list[list[int]]:
    """For each query, up to ``depth`` corpus indices by descending BM25 score, leaving out every
    passage whose group is its positive's (the positive included). Ties keep corpus order."""
    import bm25s
    import numpy as np

    retriever = bm25s.BM25()
    retriever.index(corpus_tokens, show_progress=False)
    group_array = np.asarray(groups, dtype=object)
    mined: list[list[int]] = []
    for tokens, gold in zip(query_tokens, positive):
        scores = retriever.get_scores(tokens) if tokens else np.zeros(len(corpus_tokens))
        order = np.argsort(-scores, kind="stable")
        allowed = order[group_array[order] != groups[gold]]
        mined.append([int(i) for i in allowed[:depth]])
    return mined


def mine_for_split(tokenizer: Any, split: dict[str, list[Any]], groups: list[str], location: str) -> HardNegatives:
    """:func:`mine_hard_negatives` for a training split, tokenized as the BM25 baseline is."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # "longer than the maximum sequence length": BM25 reads whole passages
    queries = [tokenizer.tokenize(text) for text in split["query"]]
    corpus = [tokenizer.tokenize(text) for text in split["corpus"]]
    negatives = mine_hard_negatives(queries, corpus, split["positive"], groups, MINED_DEPTH)
    return HardNegatives((location, MINED_DEPTH), negatives)
