"""Data parallelism: 2 Train workers with half the data each match 1 worker with the same global batch."""

from __future__ import annotations

import pytest
import yaml

from finesweep.config import load_job
from job_parts import WITHOUT_BASELINES

pytestmark = [pytest.mark.slow, pytest.mark.heavy]  # CI time: see tests/conftest.py


def _job(tmp_path, tiny_bert, workers: int):
    job = {
        "name": f"dp{workers}",
        "dataset": {"name": "emotion_carer", "max_train_samples": 96, "max_eval_samples": 48},
        "model": {"base": str(tiny_bert)},
        "train": {"epochs": 2, "batch_size": 16, "learning_rate": 5e-3, "lora_dropout": 0.0, "max_length": 32},
        "search": {"metric": "val_loss", "mode": "min", "num_samples": 1,
                   "overrides": {"lora_r": {"distribution": "choice", "values": [4]}}},
        "scheduler": {"type": "none"},
        "scaling": {"workers_per_trial": workers, "cpus_per_worker": 0.9},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "experiment": "dp"},
        "storage_path": str(tmp_path / "results"),
        "baselines": dict(WITHOUT_BASELINES),
        "verbose": 0,
    }  # fmt: skip
    path = tmp_path / f"dp{workers}.yaml"
    path.write_text(yaml.safe_dump(job))
    return load_job(path)


def test_two_workers_match_one_worker_with_the_same_global_batch(tmp_path, mlflow_store, tiny_bert, ray_clean):
    from mlflow.tracking import MlflowClient

    from finesweep.tuning.sweep import run_sweep

    histories = {}
    for workers in (1, 2):
        summary = run_sweep(_job(tmp_path, tiny_bert, workers), name=f"dp{workers}")
        assert summary.count("completed") == 1
        client = MlflowClient(summary.tracking_uri)
        run = client.search_runs(
            [client.get_experiment_by_name("dp").experiment_id],
            filter_string=f"tags.`finesweep.sweep` = 'dp{workers}' and tags.`finesweep.role` = 'trial'",
        )[0]
        histories[workers] = {
            key: [m.value for m in sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)]
            for key in ("train_loss", "val_loss", "val_accuracy")
        }
    one, two = histories[1], histories[2]
    assert len(one["val_loss"]) == len(two["val_loss"]) == 2
    assert one["train_loss"] == pytest.approx(two["train_loss"], abs=2e-3)
    assert one["val_loss"] == pytest.approx(two["val_loss"], abs=2e-3)
    assert one["val_accuracy"] == pytest.approx(two["val_accuracy"], abs=0.03)
    assert one["train_loss"][0] != one["train_loss"][1], "the model actually trained"
