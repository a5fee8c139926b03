"""Issue 42 items 1 and 2: a sparse encoder that starts where BM25 is (``term_weighting:
bm25_residual``) and BM25 hard negatives (``train.hard_negatives``) for both retrieval tasks.

Real KorQuAD pairs from the data folder, the tiny BERT (MiniLM's WordPiece vocabulary), bm25s as
the reference BM25; the sweep runs on the session's local Ray with a real MLflow store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from test_sparse_teacher import _load


def _runtime(tmp_path: Path, tiny_bert: Path, train: dict[str, Any], task: str = "sparse_encoder"):
    import torch

    from finesweep.data.pairs import prepare_pairs
    from finesweep.tasks import get_task
    from finesweep.tasks.base import baseline_spec

    loaded = _load(tmp_path, train, task=task)
    data = prepare_pairs(loaded.job.dataset, loaded.resolve_path)
    task_object = get_task(task)
    task_object.pretokenize(loaded, data, str(tiny_bert))
    spec = baseline_spec(loaded, str(tiny_bert))
    return task_object.build_runtime(loaded.params, data, spec, torch.device("cpu")), data, loaded


def test_bm25_as_sparse_vectors_gives_bm25s_scores(data_dir, minilm_dir):
    import numpy as np
    from transformers import AutoTokenizer

    from finesweep.config.schema import DatasetConfig
    from finesweep.data.bm25 import Bm25Statistics, query_vectors
    from finesweep.data.pairs import prepare_pairs
    from finesweep.tasks.sparse_encoder import bm25_index, bm25_token_ids

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    split = prepare_pairs(DatasetConfig(name="korquad_v1", max_train_samples=48, max_eval_samples=40), str).splits["test"]
    documents = bm25_token_ids(tokenizer, split["corpus"])
    statistics = Bm25Statistics.of_corpus(documents, tokenizer.vocab_size)
    ours = (query_vectors(bm25_token_ids(tokenizer, split["query"]), tokenizer.vocab_size)
            @ statistics.document_vectors(documents).T).toarray()  # fmt: skip
    reference = bm25_index(tokenizer, split["corpus"])
    expected = np.stack([reference.get_scores(tokenizer.tokenize(q)) for q in split["query"]])
    assert expected.max() > 5, "real overlaps, not all-zero scores"
    np.testing.assert_allclose(ours, expected, atol=1e-4)


def test_bm25_residual_ranks_as_bm25_at_step_0_and_training_moves_it(tmp_path, tiny_bert, data_dir):
    import torch

    from finesweep.tasks.sparse_encoder import TASK

    runtime, data, loaded = _runtime(tmp_path, tiny_bert, {"term_weighting": "bm25_residual"})
    model = runtime.model
    baseline = TASK.baseline_metrics(loaded, data, str(tiny_bert))
    for split, prefix in (("validation", "val_"), ("test", "test_")):
        ours = runtime.evaluate(model, split, prefix)
        for name in ("recall_at_1", "recall_at_10", "mrr_at_10", "ndcg_at_10"):
            assert ours[prefix + name] == pytest.approx(baseline[f"baseline_bm25_{prefix}{name}"], abs=1e-6), name
    assert 0 < baseline["baseline_bm25_val_mrr_at_10"] < 1

    items = runtime.train_dataset()
    batch = runtime.collate([items[i] for i in range(0, 48, 6)])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    optimizer.zero_grad()
    runtime.loss(model, batch).backward()
    assert runtime._scale.grad is not None and float(runtime._scale.grad) != 0.0, "the residual's scale learns"
    optimizer.step()
    assert float(runtime._scale.detach()) != 0.0


def test_hard_negatives_never_hold_a_positive_or_a_paragraph_of_its_article(tmp_path, tiny_bert, data_dir):
    import torch

    from finesweep.data.catalog import catalog_entry, locate_file
    from finesweep.data.hard_negatives import HARD_NEGATIVE_CACHE, MINED_DEPTH

    runtime, data, _ = _runtime(tmp_path, tiny_bert, {"hard_negatives": 4}, task="contrastive_embedding")
    entry = catalog_entry("korquad_v1")
    frame = entry.load({remote.name: locate_file(entry, remote) for remote in entry.files})["all"]
    articles: dict[str, set[str]] = {}
    for passage, title in zip(frame["passage"], frame["group"]):
        articles.setdefault(passage, set()).add(title)
    train = data.splits["train"]
    cached = data.extra[HARD_NEGATIVE_CACHE]
    assert len(cached.negatives) == len(train["query"])
    for query, gold in enumerate(train["positive"]):
        mined = cached.negatives[query]
        assert mined, "every query gets negatives from other articles"
        assert len(mined) <= MINED_DEPTH and gold not in mined
        assert not any(articles[train["corpus"][n]] & articles[train["corpus"][gold]] for n in mined), query
    assert [item["negatives"] for item in runtime.train_dataset()] == cached.first(4), "the trial reads the driver's"

    items = runtime.train_dataset()[:8]
    batch = runtime.collate(items)
    assert batch["n_input_ids"].shape[0] == sum(len(i["negatives"]) for i in items)
    runtime.model.eval()
    with torch.no_grad():
        with_negatives = float(runtime.loss(runtime.model, batch))
        plain = float(runtime.loss(runtime.model, runtime.collate([{**i, "negatives": []} for i in items])))
    assert with_negatives > plain, "hard negatives add to InfoNCE's denominator"


@pytest.mark.slow
def test_a_tiny_sweep_with_searched_hard_negatives_serves_its_bm25_residual_encoder(
        tmp_path, mlflow_store, data_dir, tiny_bert, ray_clean):  # fmt: skip
    from test_retrieval import _served_recall_at_10, _sweep

    from finesweep.config.schema import DatasetConfig
    from finesweep.data.pairs import prepare_pairs

    summary, client, parent, best = _sweep(
        tmp_path, "sparse-bm25", "sparse_encoder",
        {"epochs": 1, "learning_rate": 1e-3, "max_length": 64, "term_weighting": "bm25_residual"},
        {"metric": "val_mrr_at_10", "mode": "max", "algorithm": "random", "num_samples": 1},
        {"hard_negatives": {"distribution": "choice", "values": [2, 3]}},
        pairs=64, cpus=1.9, base=str(tiny_bert),
    )  # fmt: skip
    assert summary.count("completed") == 1, summary.statuses
    assert int(best.data.params["hard_negatives"]) in (2, 3), "the searched count reached the trial"
    metrics = best.data.metrics
    test = prepare_pairs(DatasetConfig(name="korquad_v1", max_train_samples=64, max_eval_samples=150), str).splits["test"]
    served, encoder = _served_recall_at_10(best.data.tags["finesweep.model_uri"], summary.tracking_uri, test, tmp_path / "cache")
    assert encoder.card["term_weighting"] == "bm25_residual"
    assert served == pytest.approx(metrics["test_recall_at_10"], abs=0.005), "serving weighs terms as training did"
