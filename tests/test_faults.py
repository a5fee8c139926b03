"""Fault tolerance with real processes and real signals: a Train worker killed mid-epoch, a trial
out of retries, a trial restored from its final checkpoint, a full disk under storage_path."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from finesweep.config import load_job
from job_parts import WITHOUT_BASELINES

pytestmark = pytest.mark.slow


def _job(tmp_path, tiny_bert, name: str, retries: int, samples: int = 1, train_size: int = 3000, runtime: str = "auto"):
    job = {
        "name": name,
        "dataset": {"name": "emotion_carer", "max_train_samples": train_size, "max_eval_samples": 60},
        "model": {"base": str(tiny_bert)},
        "train": {"epochs": 3, "batch_size": 16, "learning_rate": 3e-3, "lora_dropout": 0.0, "max_length": 32},
        "search": {"metric": "val_loss", "mode": "min", "num_samples": samples, "seed": 2,
                   # one value per trial: a finite space never runs one configuration twice
                   "overrides": {"lora_r": {"distribution": "choice", "values": [4, 8][:samples]}}},
        "scheduler": {"type": "none"},
        "scaling": {"cpus_per_worker": 0.9, "trial_runtime": runtime},
        "failure": {"max_retries": retries},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "experiment": "faults"},
        "storage_path": str(tmp_path / "results"),
        "baselines": dict(WITHOUT_BASELINES),
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


# The process that trains: a Ray Train worker, or the Tune trial actor itself (in-trial runtime).
_TRAINING_ACTOR = {"train": "RayTrainWorker", "in_trial": "ImplicitFunc"}  # Tune wraps function trainables


def _kill_one_worker_after_first_epoch(tracking_uri: str, sweep: str, killed: list[int], runtime: str) -> None:
    """Wait until a trial has reported epoch 1, let epoch 2 start, then SIGKILL its training process."""
    from ray.util.state import list_actors

    from finesweep.tuning.execution.ray_runtime import dashboard_url

    deadline = time.time() + 300
    while time.time() < deadline:
        _, runs = _trials(tracking_uri, sweep)
        if any(r.data.metrics.get("system/epoch", 0) >= 1 for r in runs):
            break
        time.sleep(0.5)
    time.sleep(1.5)  # inside epoch 2
    alive = list_actors(address=dashboard_url(), filters=[("state", "=", "ALIVE")], detail=True)
    workers = [actor for actor in alive if _TRAINING_ACTOR[runtime] in (actor.class_name or "")]
    if workers:
        os.kill(workers[0].pid, signal.SIGKILL)
        killed.append(workers[0].pid)


def _run_with_killer(job, tracking_uri: str, sweep: str):
    from finesweep.tuning.sweep import run_sweep

    killed: list[int] = []
    runtime = job.job.scaling.runtime
    killer = threading.Thread(target=_kill_one_worker_after_first_epoch, args=(tracking_uri, sweep, killed, runtime))
    killer.start()
    summary = run_sweep(job, name=sweep)
    killer.join(timeout=60)
    return summary, killed


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tiny_bert, ray_session):
    """The reference both runtimes must reproduce after a kill: the same job, never interrupted
    (one run for both: with one worker and a fixed seed the runtimes train the same way)."""
    from finesweep.tuning.sweep import run_sweep

    folder = tmp_path_factory.mktemp("faults-reference")
    clean = run_sweep(_job(folder, tiny_bert, "clean", retries=1, runtime="in_trial"), name="clean")
    _, [reference] = _trials(clean.tracking_uri, "clean")
    return reference


@pytest.mark.parametrize("runtime", ["in_trial", pytest.param("train", marks=pytest.mark.heavy)])
def test_killed_worker_resumes_from_checkpoint_and_matches_an_uninterrupted_run(tmp_path, mlflow_store, tiny_bert,
                                                                                 ray_clean, runtime, uninterrupted):  # fmt: skip
    """SIGKILL of the process that trains, mid-epoch: on the in-trial path Tune restarts the trial
    from its latest checkpoint in a new actor; on the Train path Train restarts its worker group."""
    killed_job = _job(tmp_path, tiny_bert, "killed", retries=1, runtime=runtime)
    summary, killed = _run_with_killer(killed_job, mlflow_store, "killed")
    assert killed, "a worker was killed mid-epoch"
    assert summary.statuses and set(summary.statuses.values()) == {"completed"}
    client, [interrupted] = _trials(mlflow_store, "killed")
    assert interrupted.data.tags["finesweep.restarts"] == "1", "the trial restarted once, from its epoch-1 checkpoint"
    epochs = [m.step for m in client.get_metric_history(interrupted.info.run_id, "val_loss")]
    assert sorted(set(epochs)) == [1, 2, 3]
    for key in ("val_loss", "val_accuracy", "test_accuracy", "train_loss"):
        assert interrupted.data.metrics[key] == pytest.approx(uninterrupted.data.metrics[key], abs=2e-3), key


@pytest.mark.heavy
def test_trial_that_exhausts_its_retries_fails_and_the_sweep_goes_on(tmp_path, mlflow_store, tiny_bert, ray_clean):
    summary, killed = _run_with_killer(
        _job(tmp_path, tiny_bert, "noretry", retries=0, samples=2), f"sqlite:///{tmp_path / 'mlflow.db'}", "noretry"
    )
    assert killed
    assert sorted(summary.statuses.values()) == ["completed", "failed"], summary.statuses
    _, runs = _trials(summary.tracking_uri, "noretry")
    failed = [r for r in runs if r.data.tags["finesweep.status"] == "failed"]
    assert len(failed) == 1 and failed[0].info.status == "FAILED"
    assert failed[0].data.tags["finesweep.error"].strip(), "the error is recorded on the run"


@pytest.mark.heavy
def test_trial_restored_from_its_final_checkpoint_reports_its_result_again(tmp_path, mlflow_store, tiny_bert, ray_clean):
    """The driver can die after a trial's last checkpoint but before Tune marked it done; fitting
    the trial's trainer again (what ``--resume`` does) must end with the same final result."""
    import ray

    from finesweep.models.resolve import resolve_base_model
    from finesweep.tasks import get_task
    from finesweep.tracking.runs import SweepTracker
    from finesweep.settings import Settings
    from finesweep.tuning._state import Console, SweepInputs, SweepOptions, SweepSetup, SweepState
    from finesweep.tuning._tuner import trial_spec
    from finesweep.tuning.search.warm_start import WarmStart
    from finesweep.tuning.execution.trainable import build_trainer

    job = _job(tmp_path, tiny_bert, "done", retries=0, train_size=200, runtime="train")
    summary = run_sweep_once(job, "done")
    _, [run] = _trials(summary.tracking_uri, "done")
    data = get_task(job.job.task).prepare_data(job)
    base = resolve_base_model(job.job.model.base, job.path.parent)
    tracker = SweepTracker(summary.tracking_uri, job.job.tracking.experiment, "done")
    setup = SweepSetup(job, get_task(job.job.task), "done", SweepOptions(), summary.tracking_uri, tracker,
                       tmp_path / "results" / "done", Console(0), Settings(), started=0.0, commit=None, extension=0)  # fmt: skip
    state = SweepState(setup, SweepInputs(data, base, {}, WarmStart()))
    spec = trial_spec(state, ray.put(data))
    reports = tmp_path / "reports.jsonl"
    trial_id = run.data.tags["finesweep.trial_id"]
    build_trainer({"lora_r": 4}, spec, trial_id, callbacks=[record_reports(str(reports))]).fit()
    [(metrics, checkpoint)] = [json.loads(line) for line in reports.read_text().splitlines()]
    assert metrics["epoch"] == 3 and metrics["final"] == 1.0, "no further training, the final result once"
    for key in ("val_loss", "val_accuracy", "test_accuracy", "train_loss"):
        assert metrics[key] == run.data.metrics[key], key
    assert (Path(checkpoint) / "model" / "finesweep_model.json").is_file(), "the final model travels with it"


def record_reports(path: str):
    """A Train callback (it runs in the Train controller actor) appending each report to a file."""
    from ray.train import UserCallback

    class Recorder(UserCallback):
        def after_report(self, run_context, metrics, checkpoint):
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps([metrics[0], checkpoint.path if checkpoint else None]) + "\n")

    return Recorder()


def run_sweep_once(job, name: str):
    from finesweep.tuning.sweep import run_sweep

    summary = run_sweep(job, name=name)
    assert set(summary.statuses.values()) == {"completed"}
    return summary


@pytest.fixture
def small_disk(tmp_path):
    """A 600 KiB tmpfs: room for Tune's state and an epoch checkpoint, not for the final model."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.heavy
def test_full_disk_under_storage_path_fails_clearly_and_reports_nothing_as_done(tmp_path, mlflow_store, tiny_bert, small_disk):
    job = {
        "dataset": {"name": "emotion_carer", "max_train_samples": 300, "max_eval_samples": 30},
        "model": {"base": str(tiny_bert)},
        "train": {"epochs": 2, "batch_size": 16, "max_length": 32},
        "search": {"num_samples": 1, "metric": "val_loss", "mode": "min"},
        "scheduler": {"type": "none"},
        "scaling": {"cpus_per_worker": 0.9},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "experiment": "faults"},
        "storage_path": str(small_disk / "results"),
        "baselines": dict(WITHOUT_BASELINES),
        "verbose": 0,
    }
    path = tmp_path / "full.yaml"
    path.write_text(yaml.safe_dump(job))
    done = subprocess.run(
        [sys.executable, "-m", "finesweep", "--debug", "sweep", str(path), "--name", "full"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    last = [line for line in done.stderr.splitlines() if line.strip()][-1]
    assert done.returncode == 2, done.stderr[-3000:]
    assert last.startswith("error: storage_path: no space left on the device holding"), last
    client, runs = _trials(f"sqlite:///{tmp_path / 'mlflow.db'}", "full")
    assert len(runs) == 1
    run = runs[0]
    # the trial's error is on the console even at verbose 0, its traceback under it with --debug
    lines = done.stdout.splitlines()
    failed = [i for i, line in enumerate(lines) if line.startswith(f"finesweep: {run.info.run_name} failed: ")]
    assert failed and "No space left on device" in lines[failed[0]], done.stdout[-3000:]
    after = lines[failed[0] + 1 :]
    assert after and after[0].startswith("    "), done.stdout[-3000:]
    assert any(line.startswith("    ") and 'finesweep/training/loop.py", line' in line for line in after), after[:5]
    assert not any("\\x1b" in line for line in after), "no escaped colour codes"
    assert run.info.status == "FAILED" and run.data.tags["finesweep.status"] == "failed"
    assert "No space left on device" in run.data.tags["finesweep.error"]
    assert "finesweep.model_uri" not in run.data.tags, "no model from a half-written checkpoint"
    parent = client.search_runs(
        [run.info.experiment_id], filter_string="tags.`finesweep.role` = 'sweep' and tags.`finesweep.sweep` = 'full'"
    )[0]
    assert parent.data.metrics.get("system/n_completed", 0) == 0 and parent.info.status in ("FAILED", "FINISHED")
