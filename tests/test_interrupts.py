"""Ctrl-C (one SIGINT to the sweep driver) at three moments: while the data is prepared, while Ray
starts, and during a trial. Each ends with exit 130 and one ``interrupted`` line, no process of
the driver left behind, no parent run left RUNNING; the one interrupted during a trial is recorded
as interrupted (its parent and trial runs KILLED) and ``--resume`` then finishes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

EXPERIMENT = "interrupts"


def _job(tmp_path: Path, tiny_bert: Path) -> Path:
    job = {
        "name": "ctrl-c",
        "dataset": {"name": "emotion_carer", "max_train_samples": 300, "max_eval_samples": 40},
        "model": {"base": str(tiny_bert)},
        "train": {"epochs": 3},
        "search": {"num_samples": 2, "algorithm": "random"},
        "scaling": {"max_concurrent_trials": 1},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "experiment": EXPERIMENT},
        "storage_path": str(tmp_path / "results"),
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job), encoding="utf-8")
    return path


def _env(tag: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    env["TMPDIR"] = os.environ.get("TMPDIR", "/tmp")
    env["FINESWEEP_TEST_DRIVER"] = tag  # inherited by every process the driver starts, Ray's included
    return env


def _tagged(tag: str) -> list:
    """Processes carrying the driver's tag in their environment: its own, and those it started."""
    import psutil

    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("FINESWEEP_TEST_DRIVER") == tag:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _interrupt_when(command: list[str], cwd: Path, marker: str, log: Path, presses: int = 1) -> tuple[int, str]:
    """Start the driver, send it ``presses`` SIGINTs (a second one second after the first) once
    ``marker`` is in its output; its exit code and output."""
    import uuid

    tag = uuid.uuid4().hex
    with log.open("w") as out:
        driver = subprocess.Popen(command, cwd=cwd, env=_env(tag), stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while marker not in log.read_text() and driver.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert driver.poll() is None, f"the driver ended before {marker!r}:\n{log.read_text()[-3000:]}"
    driver.send_signal(signal.SIGINT)
    for _ in range(presses - 1):
        time.sleep(1.0)  # the first press is being handled: Tune is stopping the trials
        if driver.poll() is None:
            driver.send_signal(signal.SIGINT)
    try:
        code = driver.wait(timeout=180)
    finally:
        if driver.poll() is None:
            driver.kill()
    # every process the driver started, orphans included (Ray's agents outlive a driver that
    # forgets to shut Ray down): found by the tag in their environment, given a minute to end
    deadline = time.time() + 60
    while _tagged(tag) and time.time() < deadline:
        time.sleep(1)
    alive = _tagged(tag)
    left = [f"{p.pid} {p.name()}" for p in alive]
    for process in alive:  # only this driver's own children, by pid
        process.kill()
    assert not left, f"processes of the driver left running: {left}\n{log.read_text()[-3000:]}"
    return code, log.read_text()


def _runs(tmp_path: Path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(EXPERIMENT)
    return [] if experiment is None else client.search_runs([experiment.experiment_id])


@pytest.mark.slow
@pytest.mark.parametrize(
    "moment, marker",
    [
        pytest.param("data", "finesweep: sweep 'S'", id="during-data-preparation"),
        pytest.param("ray", "finesweep: base model ", id="during-ray-start"),
        pytest.param("trial", "trial 1 · ", id="during-a-trial"),
    ],
)
def test_one_ctrl_c_stops_the_sweep_cleanly_and_resume_finishes_it(tmp_path, tiny_bert, moment, marker):
    job = _job(tmp_path, tiny_bert)
    command = [sys.executable, "-m", "finesweep", "sweep", str(job), "--name", "S"]
    before = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("finesweep-*"))
    code, output = _interrupt_when(command, tmp_path, marker, tmp_path / "driver.log")
    assert code == 130, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert [line for line in output.splitlines() if line.startswith("interrupted")], output[-2000:]
    runs = _runs(tmp_path)
    assert not [r for r in runs if r.info.status == "RUNNING"], "no run left RUNNING"
    assert set(Path(os.environ.get("TMPDIR", "/tmp")).glob("finesweep-*")) <= before, "no temp folder left"
    if moment != "trial":
        return
    [parent] = [r for r in runs if r.data.tags.get("finesweep.role") == "sweep"]
    assert parent.info.status == "KILLED" and parent.data.tags["finesweep.status"] == "interrupted"
    assert parent.data.tags["finesweep.ended_by"] == "interrupted", "Ctrl-C ended it, not its trials"
    trials = [r for r in runs if r.data.tags.get("finesweep.role") == "trial"]
    assert any(r.data.tags["finesweep.status"] == "interrupted" and r.info.status == "KILLED" for r in trials)

    resumed = subprocess.run([*command, "--resume"], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                             timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    runs = _runs(tmp_path)
    trials = [r for r in runs if r.data.tags.get("finesweep.role") == "trial"]
    assert len(trials) == 2 and {r.data.tags["finesweep.status"] for r in trials} <= {"completed", "pruned"}, \
        [(r.data.tags["finesweep.status"], r.info.status) for r in trials]
    [parent] = [r for r in runs if r.data.tags.get("finesweep.role") == "sweep"]
    assert parent.info.status == "FINISHED"
    # the probe the interrupted run never finished runs on --resume
    assert {"baseline_probe_val_macro_f1", "baseline_knn_test_macro_f1"} <= set(parent.data.tags), sorted(parent.data.tags)


@pytest.mark.slow
@pytest.mark.heavy  # CI time (about a minute); the single press at three moments runs in CI
def test_a_second_ctrl_c_stops_at_once_and_leaves_nothing_running(tmp_path, tiny_bert):
    """The second press does not wait for Tune's orderly stop: it raises at once, and the driver
    still ends every process it started, marks no run as RUNNING, and leaves a record that
    ``--resume`` finishes."""
    job = _job(tmp_path, tiny_bert)
    command = [sys.executable, "-m", "finesweep", "sweep", str(job), "--name", "S"]
    code, output = _interrupt_when(command, tmp_path, "trial 1 · ", tmp_path / "driver.log", presses=2)
    assert code == 130, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert [line for line in output.splitlines() if line.startswith("interrupted")], output[-2000:]
    assert not [r for r in _runs(tmp_path) if r.info.status == "RUNNING"], "no run left RUNNING"
    [parent] = [r for r in _runs(tmp_path) if r.data.tags.get("finesweep.role") == "sweep"]
    assert parent.data.tags["finesweep.status"] == "interrupted", "the hurried close still records why it ended"
    resumed = subprocess.run([*command, "--resume"], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                             timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    trials = [r for r in _runs(tmp_path) if r.data.tags.get("finesweep.role") == "trial"]
    assert len(trials) == 2 and {r.data.tags["finesweep.status"] for r in trials} <= {"completed", "pruned"}
