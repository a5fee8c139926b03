"""Fault tolerance with real processes and real signals: a Train worker killed mid-epoch."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import yaml

from finesweep.config import load_job

pytestmark = pytest.mark.slow


def _job(tmp_path, tiny_bert, name: str, retries: int, samples: int = 1):
    job = {
        "name": name,
        "dataset": {"name": "emotion_carer", "max_train_samples": 3000, "max_eval_samples": 60},
        "model": {"base": str(tiny_bert)},
        "train": {"epochs": 3, "batch_size": 16, "learning_rate": 3e-3, "lora_dropout": 0.0, "max_length": 32},
        "search": {"metric": "val_loss", "mode": "min", "num_samples": samples, "seed": 2,
                   "overrides": {"lora_r": {"distribution": "choice", "values": [4]}}},
        "scheduler": {"type": "none"},
        "scaling": {"cpus_per_worker": 0.9},
        "failure": {"max_retries": retries},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "experiment": "faults"},
        "storage_path": str(tmp_path / "results"),
        "verbose": 0,
    }  # fmt: skip
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(job))
    return load_job(path)


def _trials(tracking_uri: str, sweep: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("faults")
    if experiment is None:
        return client, []
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`finesweep.sweep` = '{sweep}' and tags.`finesweep.role` = 'trial'",
    )
    return client, runs


def _kill_one_worker_after_first_epoch(tracking_uri: str, sweep: str, killed: list[int]) -> None:
    """Wait until a trial has reported epoch 1, let epoch 2 start, then SIGKILL one Train worker."""
    from ray.util.state import list_actors

    from finesweep.tuning.ray_runtime import dashboard_url

    deadline = time.time() + 300
    while time.time() < deadline:
        _, runs = _trials(tracking_uri, sweep)
        if any(r.data.metrics.get("epoch", 0) >= 1 for r in runs):
            break
        time.sleep(0.5)
    time.sleep(1.5)  # inside epoch 2
    workers = list_actors(
        address=dashboard_url(),
        filters=[("class_name", "=", "RayTrainWorker"), ("state", "=", "ALIVE")],
        detail=True,
    )
    if workers:
        os.kill(workers[0].pid, signal.SIGKILL)
        killed.append(workers[0].pid)


def _run_with_killer(job, tracking_uri: str, sweep: str):
    from finesweep.tuning.sweep import run_sweep

    killed: list[int] = []
    killer = threading.Thread(target=_kill_one_worker_after_first_epoch, args=(tracking_uri, sweep, killed))
    killer.start()
    summary = run_sweep(job, name=sweep)
    killer.join(timeout=60)
    return summary, killed


def test_killed_worker_resumes_from_checkpoint_and_matches_an_uninterrupted_run(tmp_path, tiny_bert, ray_clean):
    from finesweep.tuning.sweep import run_sweep

    clean = run_sweep(_job(tmp_path, tiny_bert, "clean", retries=1), name="clean")
    summary, killed = _run_with_killer(_job(tmp_path, tiny_bert, "killed", retries=1), clean.tracking_uri, "killed")
    assert killed, "a worker was killed mid-epoch"
    assert summary.statuses and set(summary.statuses.values()) == {"completed"}
    client, [interrupted] = _trials(clean.tracking_uri, "killed")
    _, [reference] = _trials(clean.tracking_uri, "clean")
    assert interrupted.data.metrics["restarts"] == 1, "the trial restarted once, from its epoch-1 checkpoint"
    epochs = [m.step for m in client.get_metric_history(interrupted.info.run_id, "val_loss")]
    assert sorted(set(epochs)) == [1, 2, 3]
    for key in ("val_loss", "val_accuracy", "test_accuracy", "train_loss"):
        assert interrupted.data.metrics[key] == pytest.approx(reference.data.metrics[key], abs=2e-3), key


def test_trial_that_exhausts_its_retries_fails_and_the_sweep_goes_on(tmp_path, tiny_bert, ray_clean):
    summary, killed = _run_with_killer(
        _job(tmp_path, tiny_bert, "noretry", retries=0, samples=2), f"sqlite:///{tmp_path / 'mlflow.db'}", "noretry"
    )
    assert killed
    assert sorted(summary.statuses.values()) == ["completed", "failed"], summary.statuses
    _, runs = _trials(summary.tracking_uri, "noretry")
    failed = [r for r in runs if r.data.tags["finesweep.status"] == "failed"]
    assert len(failed) == 1 and failed[0].info.status == "FAILED"
    assert failed[0].data.tags["finesweep.error"].strip(), "the error is recorded on the run"
