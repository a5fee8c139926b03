"""Run in a subprocess by test_sim_cluster.py: a simulated multi-node GPU cluster (ray.cluster_utils).

Plans concurrency with finesweep's planner for 2-worker GPU trials on 3 nodes x 4 fake GPUs, then
lets Tune schedule 12 sleeping trials shaped exactly like finesweep trials (driver bundle plus one
bundle per worker) and prints JSON: the plan, the largest overlap observed, whether everything
was released at the end.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    import ray
    from ray import tune
    from ray.cluster_utils import Cluster

    from finesweep.config.schema import ScalingConfig
    from finesweep.tuning.planning import node_resources, plan_concurrency, trial_bundles

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "num_gpus": 0})
    for _ in range(3):
        cluster.add_node(num_cpus=8, num_gpus=4)
    ray.init(address=cluster.address)
    cluster.wait_for_nodes()
    scaling = ScalingConfig(workers_per_trial=2, cpus_per_worker=1, gpus_per_worker=1)
    plan = plan_concurrency(node_resources(), scaling, num_samples=12)

    def trial(config):
        start = time.time()
        time.sleep(3)
        tune.report({"start": start, "end": time.time(), "epoch": 1})

    shaped = tune.with_resources(trial, tune.PlacementGroupFactory(trial_bundles(scaling)))
    tuner = tune.Tuner(
        shaped,
        tune_config=tune.TuneConfig(num_samples=12, max_concurrent_trials=plan.max_concurrent),
        run_config=tune.RunConfig(verbose=0, storage_path=sys.argv[1]),
    )
    results = tuner.fit()
    spans = [(r.metrics["start"], r.metrics["end"]) for r in results]
    overlap = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    deadline = time.time() + 30
    while time.time() < deadline and ray.available_resources().get("GPU", 0) < 12:
        time.sleep(0.5)
    free, total = ray.available_resources(), ray.cluster_resources()
    print(json.dumps({
        "planned": plan.max_concurrent,
        "fit": plan.fit,
        "overlap": overlap,
        "trials": len(spans),
        "errors": sum(1 for r in results if r.error),
        "gpu_free": free.get("GPU", 0),
        "gpu_total": total.get("GPU", 0),
        "cpu_free": free.get("CPU", 0),
        "cpu_total": total.get("CPU", 0),
    }))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main()
