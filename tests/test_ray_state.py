"""The sweep's view of what is alive on its Ray cluster (placement groups and actors it must not leak)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from processes import start_ray_node, stop_group, wait_for_port


@pytest.fixture
def later_local_ray(tmp_path):
    """A second Ray head on this machine, started after the session's: Ray's own lookup (no
    address) now finds two local instances and picks this later one."""
    from finesweep.tuning.execution.ray_runtime import free_local_port

    port = free_local_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("RAY_ADDRESS", None)
    head = start_ray_node(["--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=1",
                           "--include-dashboard=false"], env, tmp_path / "later.log")  # fmt: skip
    try:
        wait_for_port(port, head, 60, "the second Ray head's GCS")
        yield
    finally:
        assert stop_group(head) == [], "processes of the second head outlived SIGKILL"


@pytest.mark.slow
def test_the_snapshot_sees_the_actors_of_the_cluster_this_process_is_connected_to(ray_clean, later_local_ray):
    """``ray_snapshot`` asks the connected cluster's state API, not "the latest local Ray" recorded
    under /tmp/ray: with another (or a stale) Ray on the machine, Ray's default lookup queried that
    one instead, saw none of this cluster's actors and waited 40 s per query for its GCS."""
    import ray

    from finesweep.tuning._finish import ray_snapshot, wait_for_release

    @ray.remote(num_cpus=0)
    class Idle:
        def ping(self) -> int:
            return 1

    before = ray_snapshot()
    actor = Idle.remote()
    assert ray.get(actor.ping.remote()) == 1
    during = ray_snapshot()
    [new] = during.actors - before.actors
    assert new == actor._actor_id.hex()
    assert wait_for_release(before, timeout_s=0) == (False, {"actors": 1.0}), "the live actor is counted as held"
    ray.kill(actor)
    released, held = wait_for_release(before, timeout_s=30)
    assert released and held == {}
