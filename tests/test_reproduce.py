"""`finesweep reproduce --run RUN_ID`: one trial re-run exactly from what MLflow recorded."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from finesweep.config import load_job
from job_parts import WITHOUT_BASELINES

pytestmark = pytest.mark.slow


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "finesweep", *args], capture_output=True, text=True, timeout=600, cwd=cwd)


@pytest.fixture(scope="module")
def swept(tmp_path_factory, tiny_bert, data_dir, ray_session):
    """A one-trial sweep on a user's CSV file (made here from the shared data), oversampled: the
    reproduction checks that the same seed gives the same figures, balancing included."""
    from finesweep.tuning.sweep import run_sweep

    root = tmp_path_factory.mktemp("reproduce")
    lines = (data_dir / "emotion_carer" / "train.txt").read_text(encoding="utf-8").splitlines()[:600]
    data = root / "own.csv"
    with data.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(line.rsplit(";", 1) for line in lines)
    store = f"sqlite:///{root / 'mlflow.db'}"
    job = {
        "name": "orig",
        "dataset": {"path": str(data), "max_eval_samples": 40},
        "model": {"base": str(tiny_bert)},
        "train": {"max_length": 32, "batch_size": 16, "seed": 9, "epochs": 2, "balancing": "oversample"},
        "search": {"metric": "val_macro_f1", "mode": "max", "algorithm": "random", "seed": 4, "num_samples": 1,
                   "overrides": {"learning_rate": {"distribution": "loguniform", "low": 1e-4, "high": 1e-2},
                                 "lora_r": {"distribution": "choice", "values": [2, 4]}}},
        "scheduler": {"type": "none"},
        "scaling": {"cpus_per_worker": 0.9},
        "tracking": {"uri": store, "experiment": "reproduce"},
        "storage_path": str(root / "results"),
        "baselines": dict(WITHOUT_BASELINES),
        "verbose": 0,
    }  # fmt: skip
    path = root / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    summary = run_sweep(load_job(path), name="orig")
    return store, summary, data


def test_reproduce_matches_the_original_trial_exactly(swept, tmp_path):
    from mlflow.tracking import MlflowClient

    store, summary, _ = swept
    client = MlflowClient(store)
    [original] = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string=f"tags.`finesweep.trial_id` = '{summary.best_trial_id}'",
    )
    done = _cli("reproduce", "--run", original.info.run_id, "--tracking-uri", store, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "val_macro_f1: reproduced within 1e-06" in done.stdout
    table = done.stdout.split("at epoch 2:")[1]
    assert "val_loss" in table and "train_loss" in table, "original and reproduced figures side by side"
    # the reproduction is a one-trial sweep in its own parent run, tagged with the original
    parents = client.search_runs(
        [original.info.experiment_id], filter_string=f"tags.`finesweep.reproduces_run` = '{original.info.run_id}'"
    )
    assert len(parents) == 1
    parent = parents[0]
    assert parent.data.tags["finesweep.reproduces_trial"] == summary.best_trial_id
    assert parent.data.tags["mlflow.source.name"] == original.data.tags["mlflow.source.name"]
    [copy] = client.search_runs(
        [original.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )
    for name in ("learning_rate", "lora_r", "seed", "epochs", "batch_size"):
        assert copy.data.params[name] == original.data.params[name], name
    for name in ("val_macro_f1", "val_loss", "test_macro_f1", "train_loss"):
        assert abs(copy.data.metrics[name] - original.data.metrics[name]) <= 1e-6, name
    assert not (tmp_path / "mlflow.db").exists(), "the reproduction is recorded in the original's store"


def test_reproduce_refuses_changed_data_and_foreign_runs(swept, tmp_path):
    from mlflow.tracking import MlflowClient

    store, summary, data = swept
    client = MlflowClient(store)
    experiments = [e.experiment_id for e in client.search_experiments()]
    parent = client.search_runs(experiments, filter_string="tags.`finesweep.sweep` = 'orig' and tags.`finesweep.role` = 'sweep'")[0]
    bad_ids = {
        "not-a-run-id": "32 hexadecimal digits",
        "0" * 32: "no such run",
        parent.info.run_id: "not a trial run",
    }
    for run_id, expected in bad_ids.items():
        done = _cli("reproduce", "--run", run_id, "--tracking-uri", store, cwd=tmp_path)
        assert done.returncode == 2, done.stdout + done.stderr
        [line] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert expected in line, line
    [trial] = client.search_runs(experiments, filter_string=f"tags.`finesweep.trial_id` = '{summary.best_trial_id}'")
    before = len(client.search_runs(experiments, max_results=1000))
    original = data.read_bytes()
    try:
        data.write_bytes(original + b"one more line,joy\n")  # the file changes after the sweep
        done = _cli("reproduce", "--run", trial.info.run_id, "--tracking-uri", store, cwd=tmp_path)
    finally:
        data.write_bytes(original)
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert str(data) in line and "changed since the sweep" in line
    assert len(client.search_runs(experiments, max_results=1000)) == before, "a refused reproduction starts no run"


def test_a_tampered_record_is_refused_against_the_run_not_a_temporary_file(swept, tmp_path):
    from mlflow.tracking import MlflowClient

    from finesweep.tracking.schema import TAG_CONFIG

    store, summary, _ = swept
    client = MlflowClient(store)
    experiments = [e.experiment_id for e in client.search_experiments()]
    [trial] = client.search_runs(experiments, filter_string=f"tags.`finesweep.trial_id` = '{summary.best_trial_id}'")
    recorded = trial.data.tags[TAG_CONFIG]
    try:
        client.set_tag(trial.info.run_id, TAG_CONFIG, '{"learning_rate": 0.001, "lora_r": "many"}')
        done = _cli("reproduce", "--run", trial.info.run_id, "--tracking-uri", store, cwd=tmp_path)
    finally:
        client.set_tag(trial.info.run_id, TAG_CONFIG, recorded)
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert f"run {trial.info.run_id}: its recorded values do not make a valid job" in line, line
    assert "param lora_r" in line and "'many'" in line, line
    assert "finesweep-reproduce-" not in line and "overrides" not in line, line


def test_a_python_tag_in_a_recorded_param_builds_nothing(tmp_path):
    from mlflow.tracking import MlflowClient

    from finesweep.errors import TrackingError
    from finesweep.tuning.commands.reproduce import _trial_values

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    marker = tmp_path / "ran"
    run = client.create_run(client.create_experiment("tampered"))
    client.log_param(run.info.run_id, "lora_r", f"!!python/object/apply:os.system ['touch {marker}']")
    with pytest.raises(TrackingError, match=r"param lora_r = !!python/object/apply:os.system .* is not a plain value"):
        _trial_values(client.get_run(run.info.run_id), ["lora_r"])
    assert not marker.exists()
