"""Promotion guards retrieval (issue 42 item 3): a retrieval challenger must beat the best of its
sweep's recorded baselines (BM25, the untuned base) on the held-out split, even with no champion
yet; ``--force`` overrides. One tiny contrastive sweep on KorQuAD, its real record, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml


def _cli(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FINESWEEP_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "finesweep", *args], env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def untrained(tmp_path_factory, tiny_bert, ray_session):
    """A contrastive sweep whose one trial cannot move (learning rate 1e-9, one epoch): its held-out
    figures are its untuned base model's. Returns (store, folder)."""
    from finesweep.config import load_job
    from finesweep.tuning.sweep import run_sweep

    root = tmp_path_factory.mktemp("retrieval-guard")
    store = f"sqlite:///{root / 'mlflow.db'}"
    job = {
        "name": "still", "task": "contrastive_embedding",
        "dataset": {"name": "korquad_v1", "max_train_samples": 64, "max_eval_samples": 40},
        "model": {"base": str(tiny_bert)},
        "train": {"epochs": 1, "batch_size": 16, "max_length": 64, "max_query_length": 32, "seed": 42,
                  "learning_rate": 1e-9},
        "search": {"algorithm": "random", "num_samples": 1, "seed": 1, "space": None},
        "scheduler": {"type": "none"},
        "scaling": {"workers_per_trial": 1, "cpus_per_worker": 0.9, "trial_driver_cpus": 0.1},
        "tracking": {"uri": store, "experiment": "guard"},
        "storage_path": str(root / "results"),
        "verbose": 0,
    }  # fmt: skip
    (root / "job.yaml").write_text(yaml.safe_dump(job))
    summary = run_sweep(load_job(root / "job.yaml"), name="still")
    assert summary.count("completed") == 1, summary.statuses
    return store, root


def _bm25_figures(root: Path, tiny_bert: Path) -> dict[str, float]:
    """BM25 on the sweep's own splits, as a sparse-encoder sweep records it (``baseline_bm25_*``)."""
    from finesweep.config import load_job
    from finesweep.tasks import get_task

    loaded = load_job(root / "job.yaml")
    data = get_task("contrastive_embedding").prepare_data(loaded)
    return get_task("sparse_encoder").baseline_metrics(loaded, data, str(tiny_bert))


@pytest.mark.slow
def test_promotion_refuses_a_retrieval_challenger_below_its_baselines_unless_forced(untrained, tiny_bert):
    from mlflow.tracking import MlflowClient

    from finesweep.tracking.baselines import baseline_tag_value, recorded_figures
    from finesweep.tracking.leaderboard import sweep_parent

    store, root = untrained
    cache = root / "cache"
    promote = ("promote-best-model", "--sweep", "still", "--model-name", "guarded", "--tracking-uri", store)
    client = MlflowClient(store, registry_uri=store)
    parent = sweep_parent(client, "still")
    untuned = recorded_figures(parent)["baseline_untuned_test_mrr_at_10"]

    refused = _cli(*promote, cache=cache)
    assert refused.returncode == 3, refused.stdout[-2000:] + refused.stderr[-2000:]
    assert f"does not beat the untuned baseline's {untuned:.4f}" in refused.stderr, refused.stderr
    assert "untuned baseline" in next(line for line in refused.stdout.splitlines() if "challenger (v" in line)
    assert not client.get_registered_model("guarded").aliases, "no champion yet, and none made"

    # with BM25 recorded too (it scores far above a 2-layer random BERT), the floor is BM25's
    bm25 = _bm25_figures(root, tiny_bert)
    for key, value in bm25.items():
        client.set_tag(parent.info.run_id, key, baseline_tag_value(value))
    refused = _cli(*promote, cache=cache)
    assert refused.returncode == 3, refused.stdout[-2000:] + refused.stderr[-2000:]
    assert f"does not beat the bm25 baseline's {bm25['baseline_bm25_test_mrr_at_10']:.4f}" in refused.stderr, refused.stderr
    assert bm25["baseline_bm25_test_mrr_at_10"] > untuned, "the best of the recorded baselines decides"

    forced = _cli(*promote, "--force", cache=cache)
    assert forced.returncode == 0, forced.stdout[-2000:] + forced.stderr[-2000:]
    assert "forced: the challenger's test_mrr_at_10" in forced.stdout, forced.stdout
    assert str(client.get_model_version_by_alias("guarded", "champion").version) == "1"
