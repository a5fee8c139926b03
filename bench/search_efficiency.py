"""Search efficiency, side by side in one run, over several searcher seeds. Every mode is measured
against the full grid of the same space and data (run once per invocation: the grid has no seed).

Modes (``--modes``, default all):

- ``asha``: TPE + ASHA, and random search at TPE + ASHA's compute;
- ``searchers``: TPE, GP, CMA-ES, random and QMC at equal compute (the same trials and epochs);
- ``warm``: TPE + ASHA warm-started from one earlier TPE + ASHA sweep on the same data (run with
  another seed first); the goal is within 0.01 of the grid's best at 20 % or less of its trial-epochs;
- ``multi``: two objectives (validation macro-F1 against adapter size) with MO-ASHA against the
  same searcher without stopping, at equal trial count; the goal is 95 % or more of its hypervolume
  at 60 % or less of its trial-epochs.

Each row is one sweep: the best validation macro-F1, the gap to the grid's best, the trial-epochs
spent (in all, and until the best trial ended) and their share of the grid's. Rows carry the date
and the machine. Writes ``bench/results/search_efficiency.json``, keeping the latest run of each
mode.

    FINESWEEP_DATA_DIR=../shared/data python bench/search_efficiency.py [--modes warm multi] [--seeds 7 8 9] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine, print_table, write_job  # noqa: E402

EPOCHS = 3
# A space every strategy can search: finite values, so the grid is the exhaustive reference.
SPACE = {
    "learning_rate": {"distribution": "choice", "values": [3.0e-4, 1.0e-3, 3.0e-3]},
    "lora_r": {"distribution": "choice", "values": [4, 16]},
    "balancing": {"distribution": "choice", "values": ["none", "class_weight"]},
}
QUICK_SPACE = {"learning_rate": {"distribution": "choice", "values": [1.0e-3, 3.0e-3]}}
# two objectives: the adapter's size is set by lora_r alone, so the front trades rank for quality
MULTI_SPACE = {
    "learning_rate": {"distribution": "loguniform", "low": 3.0e-4, "high": 5.0e-3},
    "lora_r": {"distribution": "choice", "values": [2, 4, 8, 16]},
}
MULTI_OBJECTIVES = [{"metric": "val_macro_f1"}, {"metric": "model_size_mb"}]
ASHA = {"type": "asha", "grace_period": 1, "max_t": EPOCHS, "reduction_factor": 2}
FIFO = {"type": "none"}


class Bench:
    """One benchmark run: its folder, data size, store, and the grid's reference figures."""

    def __init__(self, folder: Path, samples: int, space: dict[str, Any]) -> None:
        self.folder, self.samples, self.space = folder, samples, space
        self.store = f"sqlite:///{folder / 'mlflow.db'}"
        self.grid: dict[str, Any] = {}

    def sweep(self, name: str, search: dict[str, Any], scheduler: dict[str, Any], space: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one sweep in this process's Ray; return its figures and per-trial records."""
        import time

        from finesweep.config import load_job
        from finesweep.tuning.sweep import run_sweep

        job = write_job(
            self.folder, name,
            dataset={"name": "emotion_carer", "max_train_samples": self.samples, "max_eval_samples": 200},
            train={"max_length": 64, "eval_batch_size": 128, "seed": 42, "epochs": EPOCHS, "batch_size": 16},
            search={"metric": None, "mode": None, "overrides": space or self.space, "space": None, **search},
            scheduler=scheduler,
        )  # fmt: skip
        print(f"{name}: {search} {scheduler} ...", flush=True)
        started = time.perf_counter()
        run_sweep(load_job(job), name=name)
        wall = time.perf_counter() - started
        return {"sweep": name, "wall_s": wall, "trials": _trials(self.store, name)}


def _trials(store: str, sweep: str) -> list[dict[str, Any]]:
    from mlflow.tracking import MlflowClient

    from finesweep.tracking.listing import sweep_trials
    from finesweep.tracking.metric_names import recorded_metric
    from finesweep.tracking.trials import trial_config

    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("bench")
    rows = []
    for run in sweep_trials(client, experiment.experiment_id, sweep):
        rows.append({**trial_config(run, {}), "status": run.data.tags["finesweep.status"], "end_ms": run.info.end_time,
                     "epoch": int(recorded_metric(run.data.metrics, "epoch") or 0), "val_macro_f1": run.data.metrics.get("val_macro_f1"),
                     "model_size_mb": run.data.metrics.get("model_size_mb")})  # fmt: skip
    return sorted(rows, key=lambda r: r["end_ms"])


def spent(trials: list[dict[str, Any]]) -> tuple[int, int, float]:
    """(trial-epochs in all, trial-epochs until the best trial ended, best validation macro-F1)."""
    cumulative, total, best, at_best = 0, 0, -math.inf, 0
    for trial in trials:
        cumulative += trial["epoch"]
        total = cumulative
        if trial["val_macro_f1"] is not None and trial["val_macro_f1"] > best:
            best, at_best = trial["val_macro_f1"], cumulative
    return total, at_best, best


def row(bench: Bench, mode: str, strategy: str, seed: int | None, result: dict[str, Any], extra_epochs: int = 0) -> dict[str, Any]:
    """A result row against the grid: gap to its best, share of its trial-epochs."""
    total, to_best, best = spent(result["trials"])
    grid_total = bench.grid["trial_epochs"]
    return {"mode": mode, "strategy": strategy, "seed": seed, "trials": len(result["trials"]), "trial_epochs": total,
            "trial_epochs_to_best": to_best, "share_of_grid_compute": total / grid_total,
            "share_with_source": (total + extra_epochs) / grid_total, "best_val_macro_f1": best,
            "gap_to_grid_best": bench.grid["best_val_macro_f1"] - best, "wall_s": result["wall_s"],
            **machine(), "per_trial": result["trials"]}  # fmt: skip


def run_grid(bench: Bench) -> dict[str, Any]:
    result = bench.sweep("grid", {"algorithm": "grid"}, FIFO)
    total, to_best, best = spent(result["trials"])
    bench.grid = {"trial_epochs": total, "best_val_macro_f1": best}
    return row(bench, "grid", "grid", None, result)


def mode_asha(bench: Bench, seeds: list[int], samples: int) -> list[dict[str, Any]]:
    rows = []
    for seed in seeds:
        tpe = bench.sweep(f"tpe_asha-{seed}", {"algorithm": "tpe", "num_samples": samples, "seed": seed}, ASHA)
        rows.append(row(bench, "asha", "tpe_asha", seed, tpe))
        budget = max(1, math.ceil(rows[-1]["trial_epochs"] / EPOCHS))  # whole random trials within its compute
        rand = bench.sweep(f"asha-random-{seed}", {"algorithm": "random", "num_samples": budget, "seed": seed}, FIFO)
        rows.append(row(bench, "asha", "random", seed, rand))
    return rows


def mode_searchers(bench: Bench, seeds: list[int], samples: int) -> list[dict[str, Any]]:
    rows = []
    for seed in seeds:
        for algorithm in ("tpe", "gp", "cmaes", "random", "qmc"):
            # equal compute: the same trials, each to its last epoch (no early stopping)
            result = bench.sweep(f"equal-{algorithm}-{seed}", {"algorithm": algorithm, "num_samples": samples, "seed": seed}, FIFO)
            rows.append(row(bench, "searchers", algorithm, seed, result))
    return rows


def mode_warm(bench: Bench, seeds: list[int], samples: int, warm_samples: int) -> list[dict[str, Any]]:
    rows = []
    for seed in seeds:
        source = bench.sweep(f"source-{seed}", {"algorithm": "tpe", "num_samples": samples, "seed": seed + 100}, ASHA)
        source_epochs = spent(source["trials"])[0]
        rows.append(row(bench, "warm", "source (tpe_asha, seed + 100)", seed, source))
        warm = bench.sweep(f"warm-{seed}", {"algorithm": "tpe", "num_samples": warm_samples, "seed": seed,
                                            "warm_start": [f"source-{seed}"]}, ASHA)  # fmt: skip
        record = row(bench, "warm", "tpe_asha warm-started", seed, warm, extra_epochs=source_epochs)
        # a warm start never reruns a configuration its source completed: the best known after it is
        # the better of the two sweeps' bests
        record["best_known_val_macro_f1"] = max(record["best_val_macro_f1"], spent(source["trials"])[2])
        record["gap_known_to_grid_best"] = bench.grid["best_val_macro_f1"] - record["best_known_val_macro_f1"]
        rows.append(record)
    return rows


def mode_multi(bench: Bench, seeds: list[int], samples: int) -> list[dict[str, Any]]:
    from finesweep.objective import MetricGoal, Objective
    from finesweep.objective.pareto import hypervolume

    objective = Objective((MetricGoal("val_macro_f1", "max"), MetricGoal("model_size_mb", "min")))
    rows = []
    for seed in seeds:
        results = {}
        for label, scheduler in (("mo_asha", ASHA), ("no_stopping", FIFO)):
            search = {"algorithm": "motpe", "objectives": MULTI_OBJECTIVES, "num_samples": samples, "seed": seed}
            results[label] = bench.sweep(f"multi-{label}-{seed}", search, scheduler, MULTI_SPACE)
        sizes = [t["model_size_mb"] for r in results.values() for t in r["trials"] if t["model_size_mb"] is not None]
        reference = (0.0, -1.1 * max(sizes))  # gains: macro-F1 above 0, size below 1.1 x the largest adapter
        volumes = {}
        for label, result in results.items():
            completed = [objective.gains(t) for t in result["trials"] if t["status"] == "completed"]
            volumes[label] = hypervolume([g for g in completed if g is not None], reference)
        for label, result in results.items():
            record = row(bench, "multi", label, seed, result)
            record["hypervolume"] = volumes[label]
            record["hypervolume_share"] = volumes[label] / volumes["no_stopping"] if volumes["no_stopping"] else float("nan")
            record["epochs_share_of_no_stopping"] = spent(result["trials"])[0] / max(spent(results["no_stopping"]["trials"])[0], 1)
            rows.append(record)
    return rows


def summarise(rows: list[dict[str, Any]], seeds: list[int]) -> dict[str, Any]:
    """Mean and sample standard deviation over seeds, per mode and strategy."""
    table = pd.DataFrame([{k: v for k, v in r.items() if k != "per_trial"} for r in rows])
    columns = [c for c in ("gap_to_grid_best", "gap_known_to_grid_best", "share_of_grid_compute", "share_with_source", "best_val_macro_f1",
                           "hypervolume_share", "epochs_share_of_no_stopping") if c in table]  # fmt: skip
    seeded = table[table["seed"].notna()]
    summary = seeded.groupby(["mode", "strategy"])[columns].agg(["mean", "std"])
    print_table("Per sweep", table.drop(columns=["cpus", "gpu", "python", "torch"], errors="ignore"))
    print(f"\nMean and sample standard deviation over seeds {seeds}:")
    print(summary.to_string(float_format=lambda v: f"{v:.3f}"))
    return {f"{mode}/{strategy}": {f"{metric}_{stat}": float(value) for (metric, stat), value in values.items()
                                   if not (isinstance(value, float) and math.isnan(value))}
            for (mode, strategy), values in summary.iterrows()}  # fmt: skip


def save_modes(runs: dict[str, dict[str, Any]]) -> Path:
    """Merge this invocation's modes into the results file (older modes are kept with their dates)."""
    path = RESULTS / "search_efficiency.json"
    stored = json.loads(path.read_text()) if path.is_file() else {}
    modes = stored.get("modes", {}) if isinstance(stored.get("modes"), dict) else {}
    modes.update(runs)
    path.write_text(json.dumps({"modes": modes}, indent=2, default=float))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=["asha", "searchers", "warm", "multi"],
                        choices=["asha", "searchers", "warm", "multi"])  # fmt: skip
    parser.add_argument("--train-samples", type=int, default=400)
    parser.add_argument("--samples", type=int, default=6, help="trials of a TPE + ASHA sweep (and a warm start's source)")
    parser.add_argument("--equal-samples", type=int, default=5, help="trials per searcher in the searchers mode")
    parser.add_argument("--warm-samples", type=int, default=3, help="trials of the warm-started sweep")
    parser.add_argument("--multi-samples", type=int, default=8, help="trials per sweep in the multi mode")
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9], help="searcher seeds")
    parser.add_argument("--quick", action="store_true", help="a 2-point space on 100 examples: a smoke run")
    args = parser.parse_args()
    # as the CLI does: finesweep's own lines only, Tune's state saved every second
    for key, value in (("MLFLOW_LOGGING_LEVEL", "WARNING"), ("RAY_AIR_NEW_OUTPUT", "0"), ("TUNE_GLOBAL_CHECKPOINT_S", "1"),
                       ("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")):  # fmt: skip
        os.environ.setdefault(key, value)
    from finesweep.tuning.execution.ray_runtime import start_local_ray

    start_local_ray(num_cpus=2, log_to_driver=False)
    space, samples = (QUICK_SPACE, 100) if args.quick else (SPACE, args.train_samples)
    runs = {}
    with tempfile.TemporaryDirectory(prefix="finesweep-bench-") as tmp:
        bench = Bench(Path(tmp), samples, space)
        grid = run_grid(bench)
        modes = {"asha": lambda: mode_asha(bench, args.seeds, 2 if args.quick else args.samples),
                 "searchers": lambda: mode_searchers(bench, args.seeds, 2 if args.quick else args.equal_samples),
                 "warm": lambda: mode_warm(bench, args.seeds, 2 if args.quick else args.samples, 1 if args.quick else args.warm_samples),
                 "multi": lambda: mode_multi(bench, args.seeds, 2 if args.quick else args.multi_samples)}  # fmt: skip
        for mode in args.modes:
            rows = [grid, *modes[mode]()]
            runs[mode] = {"date": machine()["date"], "machine": machine(), "train_samples": samples, "space": space,
                          "seeds": args.seeds, "over_seeds": summarise(rows, args.seeds), "rows": rows}  # fmt: skip
            # saved after every mode: a long run that is stopped keeps the modes it finished
            print(f"\nwrote {save_modes({mode: runs[mode]})}")


if __name__ == "__main__":
    from finesweep.settings import Settings, using

    with using(Settings.from_environment(os.environ)):  # a benchmark is an entry point, as the CLI is
        main()
