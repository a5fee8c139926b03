"""Kill the sweep driver with SIGKILL mid-sweep, then resume: nothing lost, nothing duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
import yaml

pytestmark = pytest.mark.slow


def _children(store: str, sweep: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("resume")
    if experiment is None:
        return []
    return client.search_runs([experiment.experiment_id], filter_string=f"tags.`finesweep.sweep` = '{sweep}'")


def test_killed_driver_resumes_without_losing_or_duplicating_runs(tmp_path, tiny_bert, data_dir):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    job = {
        "dataset": {"name": "emotion_carer", "max_train_samples": 1500, "max_eval_samples": 60},
        "model": {"base": str(tiny_bert)},
        "train": {"batch_size": 16, "max_length": 32, "lora_dropout": 0.0},
        "search": {"metric": "val_loss", "mode": "min", "num_samples": 4, "seed": 4,
                   "overrides": {"learning_rate": {"distribution": "loguniform", "low": 1e-4, "high": 1e-2},
                                 "epochs": {"distribution": "int", "low": 2, "high": 3}}},
        "scheduler": {"type": "none"},
        "scaling": {"cpus_per_worker": 0.9},
        "tracking": {"uri": store, "experiment": "resume"},
        "storage_path": str(tmp_path / "results"),
        "verbose": 0,
    }  # fmt: skip
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    env = {**os.environ, "FINESWEEP_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-m", "finesweep", "sweep", str(path), "--name", "R"]
    driver = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while time.time() < deadline:
        done = [r for r in _children(store, "R") if r.data.tags.get("finesweep.status") == "completed"]
        if done:
            break
        time.sleep(1)
    assert done, "a trial completed before the driver was killed"
    family = psutil.Process(driver.pid).children(recursive=True)
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=30)
    gone, alive = psutil.wait_procs(family, timeout=30)
    for process in alive:  # our own driver's Ray processes, by pid
        process.kill()
    psutil.wait_procs(alive, timeout=10)

    refused = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "--resume" in refused.stderr

    resumed = subprocess.run([*command, "--resume"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    runs = _children(store, "R")
    parents = [r for r in runs if r.data.tags["finesweep.role"] == "sweep"]
    trials = [r for r in runs if r.data.tags["finesweep.role"] == "trial"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(trials) == 4 == len({r.data.tags["finesweep.trial_id"] for r in trials}), "one run per trial"
    assert {r.data.tags["finesweep.status"] for r in trials} == {"completed"}
    assert all(r.info.status == "FINISHED" for r in trials), "no run left RUNNING"
    assert parents[0].data.metrics["n_completed"] == 4

    # The same job uninterrupted: TPE's first trials are seeded draws and training is seeded, so
    # the resumed sweep must have tried the same configurations and found the same best trial.
    straight = subprocess.run([*command[:-1], "U"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert straight.returncode == 0, straight.stdout[-3000:] + straight.stderr[-3000:]
    resumed_trials, straight_trials = _by_config(_children(store, "R")), _by_config(_children(store, "U"))
    assert resumed_trials.keys() == straight_trials.keys(), "the searcher's state came back with the sweep"
    best = min(resumed_trials, key=resumed_trials.get)
    assert best == min(straight_trials, key=straight_trials.get), "same best trial"
    for config, loss in resumed_trials.items():
        assert loss == pytest.approx(straight_trials[config], abs=1e-3), config


def _by_config(runs) -> dict[tuple[str, str], float]:
    """Final val_loss of each trial, keyed by its sampled (learning_rate, epochs)."""
    trials = [r for r in runs if r.data.tags["finesweep.role"] == "trial"]
    return {(r.data.params["learning_rate"], r.data.params["epochs"]): r.data.metrics["val_loss"] for r in trials}
