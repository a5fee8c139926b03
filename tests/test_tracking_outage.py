"""A real MLflow tracking server on 127.0.0.1 stopped mid-sweep: training goes on, nothing is lost
silently. Either the server returns and every queued write lands, or the sweep names the gap."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
import yaml

from finesweep.tuning.execution.ray_runtime import free_local_port
from job_parts import WITHOUT_BASELINES

pytestmark = [pytest.mark.slow, pytest.mark.heavy]  # CI time: see tests/conftest.py

EPOCHS = 3


class MlflowServer:
    """`mlflow server` on 127.0.0.1 with a SQLite backend that outlives restarts of the process."""

    def __init__(self, root: Path, port: int):
        self.root, self.port = root, port
        self.uri = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 240) -> None:
        command = [
            sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
            "--backend-store-uri", f"sqlite:///{self.root / 'server.db'}",
            "--artifacts-destination", str(self.root / "artifacts"), "--workers", "1",
        ]  # fmt: skip
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"mlflow server did not start: {(self.root / 'server.log').read_text()[-2000:]}")

    def stop(self) -> None:
        """Terminate the server and the workers it spawned, by pid."""
        if self.process is None:
            return
        family = [psutil.Process(self.process.pid), *psutil.Process(self.process.pid).children(recursive=True)]
        for process in family:
            process.terminate()
        _, alive = psutil.wait_procs(family, timeout=20)
        for process in alive:
            process.kill()
        psutil.wait_procs(alive, timeout=10)
        self.process = None


@pytest.fixture
def server(tmp_path):
    srv = MlflowServer(tmp_path, free_local_port())
    srv.start()
    yield srv
    srv.stop()


def _job(tmp_path: Path, tiny_bert: Path, uri: str, retry_for_s: float) -> Path:
    job = {
        "dataset": {"name": "emotion_carer", "max_train_samples": 900, "max_eval_samples": 60},
        "model": {"base": str(tiny_bert)},
        "train": {"epochs": EPOCHS, "batch_size": 16, "max_length": 32, "lora_dropout": 0.0},
        "search": {"metric": "val_loss", "mode": "min", "num_samples": 1, "seed": 5,
                   "overrides": {"learning_rate": {"distribution": "loguniform", "low": 1e-3, "high": 5e-3}}},
        "scheduler": {"type": "none"},
        "scaling": {"cpus_per_worker": 0.9},
        "tracking": {"uri": uri, "experiment": "outage", "retry_for_s": retry_for_s},
        "storage_path": str(tmp_path / "results"),
        "baselines": dict(WITHOUT_BASELINES),
        "verbose": 0,
    }  # fmt: skip
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def _trial_runs(uri: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("outage")
    if experiment is None:
        return client, []
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.`finesweep.role` = 'trial'")
    return client, runs


def _start_sweep(job: Path, tmp_path: Path, data_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "FINESWEEP_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-m", "finesweep", "sweep", str(job), "--name", "O"]
    return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop_server_once_a_trial_reported(server: MlflowServer, sweep: subprocess.Popen) -> None:
    deadline = time.time() + 400
    while time.time() < deadline and sweep.poll() is None:
        try:
            _, runs = _trial_runs(server.uri)
        except Exception:  # noqa: BLE001 - the server is busy; ask again
            runs = []
        if any(r.data.metrics.get("system/epoch", 0) >= 1 for r in runs):
            server.stop()
            return
        time.sleep(1)
    raise AssertionError("no trial reported an epoch before the deadline")


def test_server_that_comes_back_gets_every_queued_write(tmp_path, tiny_bert, data_dir, server):
    sweep = _start_sweep(_job(tmp_path, tiny_bert, server.uri, retry_for_s=400), tmp_path, data_dir)
    _stop_server_once_a_trial_reported(server, sweep)
    time.sleep(10)  # trials keep training and reporting while the server is down
    server.start()
    out, err = sweep.communicate(timeout=600)
    assert sweep.returncode == 0, out[-3000:] + err[-3000:]
    assert "MLflow write to" in out and "accepts writes again" in out, out[-3000:]
    assert "View run" not in out + err, "MLflow's own run links stay out of finesweep's console"
    assert "No artists with labels" not in err, "no matplotlib warning"

    client, runs = _trial_runs(server.uri)
    assert len(runs) == 1, "one run for the trial, none duplicated by the replay"
    for run in runs:
        assert run.data.tags["finesweep.status"] == "completed" and run.info.status == "FINISHED"
        history = client.get_metric_history(run.info.run_id, "val_loss")
        assert sorted(m.step for m in history) == list(range(1, EPOCHS + 1)), "every epoch recorded once"
        assert run.data.params["learning_rate"], "params recorded"
        assert run.data.tags.get("finesweep.model_uri"), "model logged after the outage"


def test_server_that_never_returns_is_reported_with_what_was_lost(tmp_path, tiny_bert, data_dir, server):
    sweep = _start_sweep(_job(tmp_path, tiny_bert, server.uri, retry_for_s=3), tmp_path, data_dir)
    _stop_server_once_a_trial_reported(server, sweep)
    out, err = sweep.communicate(timeout=600)
    assert sweep.returncode == 2, out[-3000:] + err[-3000:]
    last = [line for line in err.splitlines() if line.strip()][-1]
    assert "could not record the sweep within tracking.retry_for_s=3 s" in last, err[-3000:]
    assert "MLflow writes not recorded (trial" in last and "results and checkpoints are under" in last
    assert "Traceback" not in err
