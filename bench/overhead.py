"""Sweep overhead: the same trials run by finesweep and by a plain in-process Optuna loop.

finesweep runs the job first (random search, no early stopping, so every trial trains all its
epochs; two 1-thread trials at a time on 2 cores); the plain loop then replays exactly the
configurations finesweep sampled at the sweep's own parallelism: as many reused processes as the
sweep ran trials at once, each with the same torch threads per trial, the configurations dealt
round-robin. Prints the wall-time ratio, the per-trial breakdown, cold and warm time to first step,
teardown and the useful-work share; writes bench/results/overhead.json.

    python bench/overhead.py [--trials 8] [--train-samples 700] [--quick]
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
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, print_table, run_sweep_cli, save, trial_runs, write_job  # noqa: E402
from sweep_figures import sweep_figures  # noqa: E402


def _typed(loaded: Any, row: pd.Series) -> dict[str, Any]:
    """A trial's sampled values, typed back from MLflow's param strings."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    from finesweep.tuning.search.space import to_optuna

    values = {}
    for name, dist in to_optuna(loaded.space).items():
        text = row[f"param.{name}"]
        if isinstance(dist, FloatDistribution):
            values[name] = float(text)
        elif isinstance(dist, CategoricalDistribution):
            values[name] = next(c for c in dist.choices if str(c) == text)
        else:
            values[name] = int(text)
    return values


def _finesweep_breakdown(trials: pd.DataFrame) -> dict[str, float]:
    """Mean seconds per trial in each phase, from the metrics every trial logs."""
    startup = [c for c in ("startup_worker_s", "startup_data_s", "startup_model_load_s", "startup_tokenize_s") if c in trials]
    epochs = trials["epoch"]
    wall = (trials["end_ms"] - trials["start_ms"]) / 1000
    out = {
        "process and worker start": trials.get("startup_worker_s", pd.Series([0.0])).mean(),  # ~0 when warm
        "data from the object store": trials.get("startup_data_s", pd.Series([0.0])).mean(),
        "model load": trials.get("startup_model_load_s", pd.Series([0.0])).mean(),
        "tokenisation": trials.get("startup_tokenize_s", pd.Series([0.0])).mean(),
        "first step (optimizer, DDP wrap, first batch)": (trials["time_to_first_step_s"] - trials[startup].sum(axis=1)).mean(),
        "training": trials["train_time_s"].mean(),
        "evaluation (all epochs)": (trials["eval_time_s"] * epochs).mean(),
    }
    out["checkpoints, artifacts, MLflow, Tune"] = (wall - sum(out.values())).mean() if len(wall) else 0.0
    return out


def _plain_breakdown(trials: list[dict[str, Any]]) -> dict[str, float]:
    frame = pd.DataFrame(trials)
    rest = frame["first_step_s"] - frame["model_load_s"] - frame["tokenize_s"]
    return {
        "process and worker start": 0.0,
        "data from the object store": 0.0,
        "model load": frame["model_load_s"].mean(),
        "tokenisation": frame["tokenize_s"].mean(),
        "first step (optimizer, DDP wrap, first batch)": rest.mean(),
        "training": frame["train_s"].mean(),
        "evaluation (all epochs)": frame["eval_s"].mean(),
        "checkpoints, artifacts, MLflow, Tune": 0.0,
    }


def main() -> None:
    """Run both sides, print the tables, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--train-samples", type=int, default=700, help="training examples per trial")
    parser.add_argument("--quick", action="store_true", help="2 trials on 200 examples: a smoke run")
    args = parser.parse_args()
    trials, samples = (2, 200) if args.quick else (args.trials, args.train_samples)

    from finesweep.config import load_job

    with tempfile.TemporaryDirectory(prefix="finesweep-bench-") as tmp:
        folder = Path(tmp)
        job = write_job(
            folder, "overhead",
            dataset={"name": "emotion_carer", "max_train_samples": samples, "max_eval_samples": 300},
            search={"num_samples": trials},
        )  # fmt: skip
        print(f"finesweep: {trials} trials ({samples} training examples each) ...", flush=True)
        fs_wall = run_sweep_cli(job, "fs")
        runs = trial_runs(f"sqlite:///{folder / 'mlflow.db'}", "fs")
        loaded = load_job(job)
        configs = [_typed(loaded, row) for _, row in runs.iterrows()]
        (folder / "configs.json").write_text(json.dumps(configs))
        figures = sweep_figures(f"sqlite:///{folder / 'mlflow.db'}", "fs")
        parallel, threads = figures["concurrent_trials"], max(1, round(loaded.job.scaling.cpus_per_worker))
        print(f"plain Optuna loop: the same configurations in {parallel} reused process(es) x {threads} thread(s) ...",
              flush=True)  # fmt: skip
        started = time.perf_counter()
        processes = [
            subprocess.Popen(
                [sys.executable, str(ROOT / "bench" / "plain_optuna.py"), str(job), str(folder / "configs.json"),
                 str(folder / f"plain-{i}.json"), str(threads), f"{i}/{parallel}"],
                cwd=folder,
            )
            for i in range(parallel)
        ]  # fmt: skip
        if any(process.wait() != 0 for process in processes):
            raise SystemExit("the plain loop failed")
        plain_wall = time.perf_counter() - started
        shards = [json.loads((folder / f"plain-{i}.json").read_text()) for i in range(parallel)]
        plain = {"trials": [trial for shard in shards for trial in shard["trials"]]}

    fs_phases, plain_phases = _finesweep_breakdown(runs), _plain_breakdown(plain["trials"])
    summary = pd.DataFrame(
        [
            {"runner": "finesweep (Ray Tune + Train + MLflow)", "trials": len(runs), "wall_s": fs_wall,
             "best_val_macro_f1": runs["val_macro_f1"].max()},
            {"runner": "plain in-process Optuna loop", "trials": len(plain["trials"]), "wall_s": plain_wall,
             "best_val_macro_f1": max(t["value"] for t in plain["trials"])},
        ]
    )  # fmt: skip
    phases = pd.DataFrame(
        {"phase (mean s per trial)": list(fs_phases), "finesweep": list(fs_phases.values()),
         "plain loop": [plain_phases[k] for k in fs_phases]}
    )  # fmt: skip
    print_table(f"Sweep overhead: wall-time ratio finesweep / plain loop = {fs_wall / plain_wall:.2f}", summary)
    print_table("Per-trial breakdown", phases)
    plain_useful = sum(t["train_s"] + t["eval_s"] for t in plain["trials"]) / (plain_wall * parallel)
    warm = {**{k: v for k, v in figures.items() if k != "sweep"}, "plain_useful_work_share": round(plain_useful, 3)}
    print_table("Warm trials", pd.DataFrame({"figure": list(warm), "value": list(warm.values())}))
    path = save(
        "overhead",
        {"trials": trials, "train_samples": samples, "finesweep_wall_s": fs_wall, "plain_wall_s": plain_wall,
         "ratio": fs_wall / plain_wall, "parallel_processes": parallel, "threads_per_trial": threads,
         "finesweep_phases": fs_phases, "plain_phases": plain_phases, "sweep_figures": figures,
         "plain_useful_work_share": plain_useful, "summary": summary.to_dict(orient="records")},
    )  # fmt: skip
    print(f"\nwrote {path}")


if __name__ == "__main__":
    from finesweep.settings import Settings, using

    with using(Settings.from_environment(os.environ)):  # a benchmark is an entry point, as the CLI is
        main()
