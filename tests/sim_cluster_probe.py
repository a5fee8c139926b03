"""Run in a subprocess by test_sim_cluster.py: a simulated multi-node GPU cluster (ray.cluster_utils).

Starts a head plus 3 nodes x 4 fake GPUs, asks ``finesweep plan`` (the CLI, pointed at the running
cluster's address) what the quickstart job with 2-worker GPU trials and 12 samples would do there,
plans concurrency with finesweep's planner as a sweep does, then lets Tune run 12 sleeping trials
shaped exactly like finesweep trials (driver bundle plus one bundle per worker) under the job's
ASHA scheduler. Prints JSON: the plans, the largest overlap observed (overall and per node), the
trial-epochs the trials ran, whether everything was released at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

JOB = Path(__file__).resolve().parents[1] / "jobs" / "quickstart.yaml"
OVERRIDES = [
    "scaling.workers_per_trial=2",
    "scaling.cpus_per_worker=1",
    "scaling.gpus_per_worker=1",
    "search.num_samples=12",
]


def _overlap(spans: list[tuple[float, float]]) -> int:
    """The most spans open at one start time."""
    return max((sum(1 for s, e in spans if s <= t < e) for t, _ in spans), default=0)


def _plan_cli(address: str) -> dict:
    """``finesweep plan --json`` against the running cluster, in its own process (as a user runs it)."""
    sets = [item for override in OVERRIDES for item in ("--set", override)]
    done = subprocess.run(
        [sys.executable, "-m", "finesweep", "plan", str(JOB), "--cluster", address, "--json", *sets],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"finesweep plan failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def main() -> None:
    import ray
    from ray import tune
    from ray.cluster_utils import Cluster

    from finesweep.config import load_job
    from finesweep.tuning.execution.planning import node_resources, plan_concurrency, trial_bundles
    from finesweep.tuning.commands.preview import epoch_range, total_trials
    from finesweep.tuning.search.build import build_scheduler

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "num_gpus": 0})
    for _ in range(3):
        cluster.add_node(num_cpus=8, num_gpus=4)
    ray.init(address=cluster.address)
    cluster.wait_for_nodes()
    plan_cli = _plan_cli(cluster.address)
    loaded = load_job(JOB, OVERRIDES)
    scaling = loaded.job.scaling
    trials, _ = total_trials(loaded)
    plan = plan_concurrency(node_resources(), scaling, num_samples=trials)
    scheduler, _ = build_scheduler(loaded)
    low, high = epoch_range(loaded)
    metric = loaded.objective.primary.metric
    workers = range(1, len(trial_bundles(scaling)))  # bundle 0 is the trial's driver

    def trial(config):
        table = ray.util.placement_group_table(ray.util.get_current_placement_group())
        nodes = sorted({table["bundles_to_node_id"][i] for i in workers})
        start = time.time()
        for epoch in range(1, config["epochs"] + 1):
            # 3 s before the first report, so that all trials admitted at once overlap even when
            # Tune starts them a second or two apart; ASHA may stop a trial at that report
            time.sleep(3 if epoch == 1 else 1)
            tune.report({"start": start, "end": time.time(), "epoch": epoch, metric: config["x"], "nodes": nodes})

    shaped = tune.with_resources(trial, tune.PlacementGroupFactory(trial_bundles(scaling)))
    tuner = tune.Tuner(
        shaped,
        param_space={"x": tune.uniform(0, 1), "epochs": tune.randint(low, high + 1)},
        tune_config=tune.TuneConfig(
            num_samples=trials, max_concurrent_trials=plan.max_concurrent, scheduler=scheduler,
            metric=metric, mode=loaded.job.search.mode,
        ),
        run_config=tune.RunConfig(verbose=0, storage_path=sys.argv[1]),
    )  # fmt: skip
    results = tuner.fit()
    spans = [(r.metrics["start"], r.metrics["end"]) for r in results]
    by_node: dict[str, list[tuple[float, float]]] = {}
    for r in results:
        for node in r.metrics["nodes"]:
            by_node.setdefault(node, []).append((r.metrics["start"], r.metrics["end"]))
    deadline = time.time() + 30
    while time.time() < deadline and ray.available_resources().get("GPU", 0) < 12:
        time.sleep(0.5)
    free, total = ray.available_resources(), ray.cluster_resources()
    print(json.dumps({
        "planned": plan.max_concurrent,
        "fit": plan.fit,
        "plan_cli": plan_cli,
        "overlap": _overlap(spans),
        "overlap_per_node": sorted(_overlap(node_spans) for node_spans in by_node.values()),
        "trials": len(spans),
        "errors": sum(1 for r in results if r.error),
        "trial_epochs": sum(r.metrics["epoch"] for r in results),
        "stopped_early": sum(1 for r in results if r.metrics["epoch"] < r.config["epochs"]),
        "gpu_free": free.get("GPU", 0),
        "gpu_total": total.get("GPU", 0),
        "cpu_free": free.get("CPU", 0),
        "cpu_total": total.get("CPU", 0),
    }))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main()
