"""Scaling: (1) trials per hour as concurrency grows on a simulated multi-node cluster, with trials
shaped like finesweep's two runtimes (in_trial: a Tune function trial reporting from its own,
reused actor; train: a Tune trial driving a 1-worker TorchTrainer) that do almost no work, so
the figure is Ray's scheduling and start-up cost; (2) one real trial trained by 1 worker with 1
thread, 2 data-parallel workers with 1 thread each, and 1 worker with 2 threads.
Writes bench/results/scaling.json.

    python bench/scaling.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_table, run_sweep_cli, save, trial_runs, write_job  # noqa: E402


def simulated(concurrency: int, trials: int, storage: str, runtime: str = "train") -> dict[str, float]:
    """Run ``trials`` near-empty trials of ``runtime``, ``concurrency`` at a time, on 4 simulated nodes."""
    import ray
    import ray.train
    from ray import tune
    from ray.cluster_utils import Cluster
    from ray.train.torch import TorchTrainer

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    for _ in range(4):
        cluster.add_node(num_cpus=max(2, concurrency))  # virtual CPUs: room is never the limit
    ray.init(address=cluster.address, logging_level="error")
    cluster.wait_for_nodes()

    def loop(config):
        for epoch in (1, 2):
            ray.train.report({"epoch": epoch})

    def in_trial(config):  # finesweep's in_trial runtime: report from the (reused) trial actor
        for epoch in (1, 2):
            tune.report({"epoch": epoch})

    def trial(config):
        TorchTrainer(
            loop,
            scaling_config=ray.train.ScalingConfig(num_workers=1, resources_per_worker={"CPU": 1}),
            run_config=ray.train.RunConfig(name=tune.get_context().get_trial_id(), storage_path=storage),
        ).fit()
        tune.report({"done": 1})

    started = time.perf_counter()
    trainable = tune.with_resources(in_trial, {"CPU": 1}) if runtime == "in_trial" else tune.with_resources(trial, {"CPU": 0.1})
    tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(num_samples=trials, max_concurrent_trials=concurrency, reuse_actors=runtime == "in_trial"),
        run_config=tune.RunConfig(verbose=0, storage_path=storage),
    ).fit()
    wall = time.perf_counter() - started
    ray.shutdown()
    cluster.shutdown()
    return {"runtime": runtime, "concurrency": concurrency, "trials": trials, "wall_s": wall,
            "trials_per_hour": trials * 3600 / wall}  # fmt: skip


def data_parallel(folder: Path, samples: int) -> pd.DataFrame:
    """Training samples per second of one real trial under three layouts of the same 2 cores."""
    rows = []
    for name, workers, cpus in (("1 worker x 1 thread", 1, 0.9), ("2 workers x 1 thread (DDP)", 2, 0.9),
                                ("1 worker x 2 threads", 1, 1.9)):  # fmt: skip
        sweep = f"w{workers}c{int(cpus)}"
        job = write_job(
            folder, sweep,
            dataset={"name": "emotion_carer", "max_train_samples": samples, "max_eval_samples": 200},
            train={"max_length": 64, "epochs": 1, "batch_size": 32, "learning_rate": 1e-3, "seed": 42},
            search={"num_samples": 1, "space": None},
            scaling={"workers_per_trial": workers, "cpus_per_worker": cpus, "trial_driver_cpus": 0.1,
                     "trial_runtime": "train"},  # the pre-warm-trials path for every layout, comparable
        )  # fmt: skip
        print(f"data parallel: {name} ...", flush=True)
        run_sweep_cli(job, sweep)
        trial = trial_runs(f"sqlite:///{folder / 'mlflow.db'}", sweep).iloc[0]
        rows.append({"layout": name, "train_samples_per_s": samples / trial["train_time_s"],
                     "time_to_first_step_s": trial["time_to_first_step_s"]})  # fmt: skip
    return pd.DataFrame(rows)


def main() -> None:
    """Both scaling tables; each simulated cluster runs in its own process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="concurrency 1 and 2, 2 trials each")
    parser.add_argument("--simulated-only", type=int, nargs=2, metavar=("CONCURRENCY", "TRIALS"), help=argparse.SUPPRESS)
    parser.add_argument("--runtime", default="train", help=argparse.SUPPRESS)
    parser.add_argument("--storage", help=argparse.SUPPRESS)
    parser.add_argument("--simulated", action="store_true", help="only the simulated-cluster table")
    args = parser.parse_args()
    if args.simulated_only:
        print(json.dumps(simulated(*args.simulated_only, args.storage, args.runtime)))
        return
    levels = [(1, 2), (2, 2)] if args.quick else [(1, 4), (2, 4), (4, 8)]
    with tempfile.TemporaryDirectory(prefix="finesweep-bench-") as tmp:
        rows = []
        for runtime in ("in_trial", "train"):
            for concurrency, trials in levels:
                trials = trials * 4 if runtime == "in_trial" and not args.quick else trials  # they are fast
                print(f"simulated cluster: {runtime}, {trials} trials, {concurrency} at a time ...", flush=True)
                done = subprocess.run(
                    [sys.executable, __file__, "--simulated-only", str(concurrency), str(trials), "--runtime", runtime,
                     "--storage", f"{tmp}/sim-{runtime}-{concurrency}"],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        if args.simulated:
            sim = pd.DataFrame(rows)
            print_table("Trials per hour on a simulated 4-node cluster (near-empty trials)", sim)
            print(f"\nwrote {save('scaling_simulated', {'simulated': sim.to_dict(orient='records')})}")
            return
        sim = pd.DataFrame(rows)
        dp = data_parallel(Path(tmp), 200 if args.quick else 1000)
    print_table("Trials per hour on a simulated 4-node cluster (near-empty trials: Ray start-up and scheduling only)", sim)
    print_table("One trial on the same 2 cores: data-parallel workers vs threads", dp)
    path = save("scaling", {"simulated": sim.to_dict(orient="records"), "data_parallel": dp.to_dict(orient="records")})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    from finesweep.settings import Settings, using

    with using(Settings.from_environment(os.environ)):  # a benchmark is an entry point, as the CLI is
        main()
