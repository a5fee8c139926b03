"""Problems found before Ray starts: unreachable tracking server, unusable storage, a name clash."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import yaml

from finesweep.tuning.execution.ray_runtime import free_local_port


def _job(tmp_path: Path, tiny_bert: Path, **top) -> Path:
    job = {
        "dataset": {"name": "emotion_carer", "max_train_samples": 60, "max_eval_samples": 30},
        "model": {"base": str(tiny_bert)},
        "search": {"num_samples": 1},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
        "storage_path": str(tmp_path / "results"),
        **top,
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def _sweep(job: Path, cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "finesweep", "sweep", str(job), *extra], cwd=cwd, capture_output=True, text=True,
        timeout=300,
    )


def test_unreachable_tracking_server_is_refused_before_any_trial(tmp_path, tiny_bert):
    closed = free_local_port()  # nothing listens there
    job = _job(tmp_path, tiny_bert, tracking={"uri": f"http://127.0.0.1:{closed}"})
    started = time.time()
    done = _sweep(job, tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"MLflow tracking server http://127.0.0.1:{closed} is unreachable" in done.stderr
    assert "Traceback" not in done.stderr
    assert time.time() - started < 60
    assert not (tmp_path / "results").exists(), "nothing started"


def test_unwritable_storage_path_is_refused_with_its_key(tmp_path, tiny_bert):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    job = _job(tmp_path, tiny_bert, storage_path=str(blocker / "results"))
    done = _sweep(job, tmp_path)
    assert done.returncode == 2, done.stderr
    assert "storage_path: cannot write to" in done.stderr
    assert not (tmp_path / "mlflow.db").exists() or b"finesweep" not in (tmp_path / "mlflow.db").read_bytes()


def test_missing_local_base_model_is_a_config_error(tmp_path, tiny_bert):
    job = _job(tmp_path, tiny_bert, model={"base": "./no-such-model"})
    done = subprocess.run(
        [sys.executable, "-m", "finesweep", "validate", str(job)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "model.base: local model directory" in done.stderr and "no-such-model" in done.stderr


def test_lora_target_not_in_the_model_is_refused_before_any_run(tmp_path, tiny_bert):
    job = _job(tmp_path, tiny_bert, model={"base": str(tiny_bert), "lora_target_modules": ["query", "q_proj"]})
    done = _sweep(job, tmp_path)
    assert done.returncode == 2, done.stderr
    last = [line for line in done.stderr.splitlines() if line.strip()][-1]
    assert last.startswith("error: model.lora_target_modules: q_proj not in the model; its linear layers are:"), last
    assert "query" in last and "value" in last
    assert not (tmp_path / "results").exists(), "nothing started"
    assert not (tmp_path / "mlflow.db").exists() or b"finesweep" not in (tmp_path / "mlflow.db").read_bytes()
