"""Per-trial overhead figures of a finished sweep, read back from MLflow.

    python bench/sweep_figures.py --sweep NAME [--tracking-uri URI] [--json out.json]

Prints, for the sweep's trials: the median time from trial start to first training step for cold
trials (the first trial in a process) and warm ones (a reused process), the median teardown
(from a trial's last reported epoch to its MLflow run closing with its model recorded), the
median per-trial overhead (the trial's MLflow run, open from Tune starting the trial until its
model is recorded, less its training and evaluation seconds), and the useful-work share: the
trials' training plus evaluation seconds (validation every epoch, the test split at the end) over
(wall time x concurrent trials). Nothing is asserted: these are benchmark figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def sweep_figures(tracking_uri: str, sweep: str) -> dict[str, object]:
    """The figures for one sweep (see the module docstring)."""
    from mlflow.tracking import MlflowClient

    from finesweep.tracking.leaderboard import sweep_parent

    client = MlflowClient(tracking_uri)
    parent = sweep_parent(client, sweep)
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.`finesweep.sweep` = '{sweep}' and tags.`finesweep.role` = 'trial'",
        max_results=10_000,
    )
    cold, warm, teardown, useful, overhead = [], [], [], 0.0, {"cold": [], "warm": []}
    for run in children:
        metrics = {key.removeprefix("system/"): value for key, value in run.data.metrics.items()}
        first = metrics.get("time_to_first_step_s")
        if first is not None:
            (cold if float(run.data.tags.get("finesweep.process_trial_index", 1)) <= 1 else warm).append(first)
        epochs = metrics.get("epoch", 0.0)
        evaluation = metrics.get("eval_time_s", 0.0) * epochs + metrics.get("test_eval_time_s", 0.0)  # seconds
        useful += metrics.get("train_time_s", 0.0) + evaluation
        history = client.get_metric_history(run.info.run_id, "system/epoch") or client.get_metric_history(run.info.run_id, "epoch")
        if history and run.info.end_time:
            teardown.append((run.info.end_time - max(m.timestamp for m in history)) / 1000)
        if run.info.end_time and "train_time_s" in metrics:
            # the run opens when Tune starts the trial and closes once its model is recorded
            span = (run.info.end_time - run.info.start_time) / 1000
            kind = "cold" if float(run.data.tags.get("finesweep.process_trial_index", 1)) <= 1 else "warm"
            overhead[kind].append(span - metrics["train_time_s"] - evaluation)
    wall = parent.data.metrics.get("system/sweep_wall_time_s", parent.data.metrics.get("sweep_wall_time_s", 0.0))
    concurrency = parent.data.metrics.get("system/max_concurrent_trials", parent.data.metrics.get("max_concurrent_trials", 1.0))
    return {
        "sweep": sweep,
        "trials": len(children),
        "wall_s": round(wall, 1),
        "concurrent_trials": int(concurrency),
        "median_first_step_cold_s": _median(cold),
        "median_first_step_warm_s": _median(warm),
        "median_first_step_all_s": _median(cold + warm),
        "cold_trials": len(cold),
        "warm_trials": len(warm),
        "median_overhead_cold_s": _median(overhead["cold"]),
        "median_overhead_warm_s": _median(overhead["warm"]),
        "median_teardown_s": _median(teardown),
        "useful_work_share": round(useful / (wall * concurrency), 3) if wall else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", required=True)
    parser.add_argument("--tracking-uri", default=f"sqlite:///{Path.cwd() / 'mlflow.db'}")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures = sweep_figures(args.tracking_uri, args.sweep)
    for key, value in figures.items():
        print(f"{key:28s} {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
