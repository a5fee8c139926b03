"""A sweep on a real two-node Ray cluster with its results in an S3 bucket, and the loss of a node.

The cluster is two ``ray start`` nodes on this machine: a head on 127.0.0.1 and a second node bound
to 127.0.0.2, one CPU each (so two 0.9-CPU trials run at once, one per node). Storage is a moto S3
server on 127.0.0.1. Mid-sweep the second node's raylet is killed (SIGKILL, by pid): its trial must
restart on the head from its latest checkpoint in the bucket, and the sweep must end with one MLflow
run per trial and nothing of the cluster held.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from processes import aws_env, bucket_keys, s3_client, start_ray_node, stop_group, wait_for_port

from finesweep.tuning.execution.ray_runtime import free_local_port

pytestmark = [pytest.mark.slow, pytest.mark.heavy]  # CI time: see tests/conftest.py
pytest.importorskip("boto3")

SECOND_NODE_IP = "127.0.0.2"  # a loopback address of its own, so each trial's node IP tells where it ran
BUCKET = "cluster"
SWEEP = "two-nodes"

# Connects to the cluster, waits for N live nodes, prints what the cluster holds as one JSON line.
_PROBE = """
import json, sys, time
import ray
from ray.util.placement_group import placement_group_table
ray.init(address=sys.argv[1], logging_level="error", log_to_driver=False)
deadline = time.time() + 120
while len([n for n in ray.nodes() if n["Alive"]]) < int(sys.argv[2]) and time.time() < deadline:
    time.sleep(0.5)
print(json.dumps({
    "nodes": sorted(n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]),
    "total": ray.cluster_resources(), "free": ray.available_resources(),
    "placement_groups": [p for p in placement_group_table().values() if p["state"] != "REMOVED"],
}))
"""


def _cluster_state(address: str, env: dict[str, str], nodes: int) -> dict:
    done = subprocess.run([sys.executable, "-c", _PROBE, address, str(nodes)], env=env, capture_output=True,
                          text=True, timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def two_nodes(tmp_path, moto_endpoint, data_dir):
    """A head (127.0.0.1) and a second node (127.0.0.2), one CPU each; both see the S3 server."""
    port = free_local_port()
    env = {
        **os.environ,
        **aws_env(moto_endpoint),  # every worker on every node writes checkpoints to the bucket
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "FINESWEEP_DATA_DIR": str(data_dir),
        # Ray 2.60 authenticates every client of a cluster started where ~/.ray/auth_token exists
        # (it writes one); the nodes, the driver and the probe all read the same token file
        "RAY_AUTH_MODE": "token",
    }
    env.pop("RAY_ADDRESS", None)
    head = start_ray_node(
        ["--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--num-gpus=0",
         "--include-dashboard=false"], env, tmp_path / "head.log",
    )  # fmt: skip
    nodes = [head]
    try:
        wait_for_port(port, head, 60, "the Ray head's GCS")
        address = f"127.0.0.1:{port}"
        nodes.append(start_ray_node(
            [f"--address={address}", f"--node-ip-address={SECOND_NODE_IP}", "--num-cpus=1", "--num-gpus=0"],
            env, tmp_path / "second.log",
        ))  # fmt: skip
        state = _cluster_state(address, env, nodes=2)
        assert SECOND_NODE_IP in state["nodes"] and len(state["nodes"]) == 2, state
        yield address, env, nodes[1]
    finally:
        survivors = [pid for node in reversed(nodes) for pid in stop_group(node)]
        assert survivors == [], f"Ray processes outlived SIGKILL: {survivors}"


def _job(tmp_path: Path, tiny_bert: Path) -> Path:
    job = {
        "name": SWEEP,
        # a few seconds an epoch on one core: time to kill a node between two checkpoints
        "dataset": {"name": "emotion_carer", "max_train_samples": 8000, "max_eval_samples": 60},
        "model": {"base": str(tiny_bert)},
        "train": {"epochs": 3, "batch_size": 16, "max_length": 48, "lora_dropout": 0.0},
        "search": {"metric": "val_loss", "mode": "min", "num_samples": 3, "seed": 5,
                   "overrides": {"learning_rate": {"distribution": "loguniform", "low": 1e-4, "high": 1e-2}}},
        "scheduler": {"type": "none"},
        "scaling": {"cpus_per_worker": 0.9, "trial_runtime": "in_trial"},
        "failure": {"max_retries": 2},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "experiment": "cluster"},
        "storage_path": f"s3://{BUCKET}/sweeps",
        "verbose": 0,
    }  # fmt: skip
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def _trial_runs(tmp_path: Path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("cluster")
    if experiment is None:
        return client, []
    query = f"tags.`finesweep.sweep` = '{SWEEP}' and tags.`finesweep.role` = 'trial'"
    return client, client.search_runs([experiment.experiment_id], filter_string=query)


def _checkpoints_in_bucket(s3, trial_id: str) -> list[str]:
    keys = bucket_keys(s3, BUCKET, f"sweeps/{SWEEP}/{trial_id}/")
    return [k for k in keys if k.endswith("/manifest.json") and "/checkpoint_" in k]


def _wait_for_a_checkpoint_on_the_second_node(tmp_path: Path, log: Path, s3, driver) -> str:
    """The id of a trial running on the second node once it has a checkpoint in the bucket and
    epochs still to go."""
    deadline = time.time() + 600
    while time.time() < deadline and driver.poll() is None:
        time.sleep(0.5)
        if "finesweep: data " not in log.read_text():
            continue  # the driver creates the MLflow store first: two processes must not both migrate it
        for run in _trial_runs(tmp_path)[1]:
            tags = run.data.tags
            if tags.get("finesweep.node") != SECOND_NODE_IP or tags.get("finesweep.status") != "running":
                continue
            if _checkpoints_in_bucket(s3, tags["finesweep.trial_id"]) and run.data.metrics.get("system/epoch", 0) < 3:
                return tags["finesweep.trial_id"]
    pytest.fail("no trial on the second node checkpointed mid-trial:\n" + log.read_text()[-3000:])


def _kill_raylet(node: subprocess.Popen) -> int:
    """SIGKILL the raylet among our own node's child processes (found by pid under ``node``)."""
    import psutil

    [raylet] = [p for p in psutil.Process(node.pid).children(recursive=True) if p.name() == "raylet"]
    raylet.send_signal(signal.SIGKILL)
    return raylet.pid


def test_trials_run_on_both_nodes_and_a_lost_node_s_trial_restarts_on_the_head_from_the_bucket(
    tmp_path, tiny_bert, moto_endpoint, two_nodes
):
    address, env, second_node = two_nodes
    s3 = s3_client(moto_endpoint)
    s3.create_bucket(Bucket=BUCKET)
    log = tmp_path / "driver.log"
    with log.open("w") as out:  # the driver connects to the cluster: RAY_ADDRESS, as Ray Jobs set it
        driver = subprocess.Popen([sys.executable, "-m", "finesweep", "sweep", str(_job(tmp_path, tiny_bert)),
                                   "--name", SWEEP],
                                  cwd=tmp_path, env={**env, "RAY_ADDRESS": address}, stdout=out,
                                  stderr=subprocess.STDOUT)  # fmt: skip
    try:
        lost_trial = _wait_for_a_checkpoint_on_the_second_node(tmp_path, log, s3, driver)
        _kill_raylet(second_node)
        assert driver.wait(timeout=900) == 0, log.read_text()[-4000:]
    finally:
        if driver.poll() is None:
            driver.kill()
    output = log.read_text()

    client, runs = _trial_runs(tmp_path)
    by_trial = {r.data.tags["finesweep.trial_id"]: r for r in runs}
    assert len(runs) == len(by_trial) == 3, "one MLflow run per trial, the restarted one included"
    assert {r.data.tags["finesweep.status"] for r in runs} == {"completed"}, output[-3000:]

    # where the trials ran: both nodes; the lost node's trial moved to the head and went on from
    # its checkpoint (restarts counts resumptions from a checkpoint; no epoch was trained twice)
    nodes = {node for r in runs for node in r.data.tags["finesweep.nodes"].split(",")}
    head_ip = next(iter(nodes - {SECOND_NODE_IP}))
    assert nodes == {SECOND_NODE_IP, head_ip}, nodes
    moved = by_trial[lost_trial].data.tags
    assert moved["finesweep.nodes"] == f"{SECOND_NODE_IP},{head_ip}" and moved["finesweep.node"] == head_ip, moved
    assert moved["finesweep.restarts"] == "1", moved
    steps = [m.step for m in client.get_metric_history(by_trial[lost_trial].info.run_id, "val_loss")]
    assert sorted(steps) == [1, 2, 3], f"epochs reported {steps}: the restart resumed from epoch {min(steps[1:])}"

    # every checkpoint and every final model in the bucket; nothing on this machine's disk
    for trial_id, run in by_trial.items():
        assert _checkpoints_in_bucket(s3, trial_id), trial_id
        assert run.data.tags["finesweep.checkpoint_path"].startswith(f"s3://{BUCKET}/sweeps/{SWEEP}/{trial_id}/")
        assert run.data.tags.get("finesweep.model_uri"), "the final model was logged from the bucket"
    assert not list(tmp_path.rglob("checkpoint_0*")) and not (tmp_path / "finesweep_results").exists()

    # nothing held: the head's CPU is free again and no placement group is left
    assert "resources still held" not in output, output[-2000:]
    state = _cluster_state(address, env, nodes=1)
    assert state["nodes"] == [head_ip], state
    assert state["free"].get("CPU") == state["total"]["CPU"] == 1.0 and state["placement_groups"] == [], state
