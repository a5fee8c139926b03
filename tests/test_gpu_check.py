"""bench/gpu_check.py's dry run on the CPU: every step the GPU check takes (throughput per base and
precision, concurrent trial processes) runs through ``finesweep train``'s code path, with tiny
sizes, and writes its JSON where it is told."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.heavy  # CI time (40 s): run with --heavy before a session on the GPU machine
def test_gpu_check_dry_run_measures_every_step_on_the_cpu(tmp_path, tiny_bert, data_dir):
    output = tmp_path / "gpu_check.json"
    env = {**os.environ, "FINESWEEP_GPU_CHECK_TINY_MODEL": str(tiny_bert), "FINESWEEP_DATA_DIR": str(data_dir)}
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_check.py"), "--dry-run", "--output", str(output)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads(output.read_text())
    assert figures["dry_run"] is True and figures["machine"]["torch"]
    [row] = figures["throughput"]
    assert row["samples_per_s"] > 0 and row["peak_memory_mb"] > 0 and row["time_to_first_step_s"] >= 0
    assert [r["processes"] for r in figures["concurrency"]] == [1, 2]
    assert all(r["aggregate_samples_per_s"] > 0 for r in figures["concurrency"])
    assert figures["concurrency"][0]["ratio_to_one"] == 1.0
    assert not (tmp_path / "mlflow.db").exists() and not list(tmp_path.glob("mlruns*")), "no MLflow on this path"
