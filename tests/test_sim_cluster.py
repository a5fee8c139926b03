"""Concurrency planning on a simulated multi-node GPU cluster (fake GPUs, real Ray scheduling)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_three_nodes_of_four_gpus_run_six_two_worker_trials_at_once(tmp_path):
    probe = Path(__file__).with_name("sim_cluster_probe.py")
    done = subprocess.run(
        [sys.executable, str(probe), str(tmp_path / "results")], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts["planned"] == 6 and facts["fit"] == 6
    assert facts["trials"] == 12 and facts["errors"] == 0
    assert facts["overlap"] == 6, "six trials ran at once, never more (no driver waits on workers)"
    assert facts["gpu_free"] == facts["gpu_total"] == 12
    assert facts["cpu_free"] == facts["cpu_total"]
