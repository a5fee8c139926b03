"""Concurrency planning and `finesweep plan` on a simulated multi-node GPU cluster (fake GPUs, real
Ray scheduling). One probe run (one simulated cluster) serves both tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.heavy]  # CI time: see tests/conftest.py


@pytest.fixture(scope="module")
def facts(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """What tests/sim_cluster_probe.py planned and observed (it prints one JSON line last)."""
    probe = Path(__file__).with_name("sim_cluster_probe.py")
    results = tmp_path_factory.mktemp("sim-cluster") / "results"
    done = subprocess.run([sys.executable, str(probe), str(results)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_three_nodes_of_four_gpus_run_six_two_worker_trials_at_once(facts):
    assert facts["planned"] == 6 and facts["fit"] == 6
    assert facts["trials"] == 12 and facts["errors"] == 0
    assert facts["overlap"] == 6, "six trials ran at once, never more (no driver waits on workers)"
    assert facts["gpu_free"] == facts["gpu_total"] == 12
    assert facts["cpu_free"] == facts["cpu_total"]


def test_plan_of_the_running_cluster_matches_what_the_sweep_did(facts):
    """`finesweep plan --cluster ADDRESS` ran before the trials; they then ran as it said."""
    plan = facts["plan_cli"]
    assert plan["trials"] == facts["trials"] == 12
    assert plan["trials_at_once"] == facts["planned"] == facts["overlap"] == 6
    gpu_nodes = [node for node in plan["per_node"] if node["resources"].get("GPU")]
    assert sorted(node["trials"] for node in gpu_nodes) == facts["overlap_per_node"] == [2, 2, 2]
    assert [rung["epoch"] for rung in plan["rungs"]] == [1, 2]
    epochs = plan["trial_epochs"]
    assert (epochs["fewest"], epochs["expected"], epochs["worst_case"]) == (13, 21, 36)
    assert epochs["fewest"] <= facts["trial_epochs"] <= epochs["worst_case"]
    # the plan connected and disconnected: nothing of the cluster is held once the trials are done
    assert facts["gpu_free"] == facts["gpu_total"] == 12
    assert facts["cpu_free"] == facts["cpu_total"]
