"""The leaderboard: a sweep's trials ranked by its metric, read back from MLflow."""

from __future__ import annotations

from typing import Any

import pandas as pd

from finesweep.errors import TrackingError
from finesweep.tracking.runs import TAG_ROLE, TAG_STATUS, TAG_SWEEP, TAG_TRIAL
from finesweep.tracking.store import client

_TIMINGS = ["time_to_first_step_s", "train_time_s"]


def sweep_parent(mlflow_client: Any, sweep: str) -> Any:
    """The parent run of sweep ``sweep`` in any experiment (TrackingError if none)."""
    experiments = [e.experiment_id for e in mlflow_client.search_experiments()]
    runs = mlflow_client.search_runs(
        experiments, filter_string=f"tags.`{TAG_SWEEP}` = '{sweep}' and tags.`{TAG_ROLE}` = 'sweep'", max_results=1
    )
    if not runs:
        raise TrackingError(
            f"no sweep named {sweep!r} in the MLflow store; the sweep's name is printed on its first line "
            "and is the run name of its parent run in the MLflow UI"
        )
    return runs[0]


def leaderboard(
    tracking_uri: str, sweep: str, metric: str | None = None, top: int | None = None, include_pruned: bool = False
) -> tuple[pd.DataFrame, str, str]:
    """The sweep's trials, best first: (table, metric, mode). Pruned/failed only with ``include_pruned``."""
    mlflow_client = client(tracking_uri)
    parent = sweep_parent(mlflow_client, sweep)
    metric = metric or parent.data.tags.get("finesweep.metric", "val_macro_f1")
    mode = parent.data.tags.get("finesweep.mode", "max")
    searched = [p for p in parent.data.tags.get("finesweep.searched", "").split(",") if p]
    children = mlflow_client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.`{TAG_SWEEP}` = '{sweep}' and tags.`{TAG_ROLE}` = 'trial'",
        max_results=10_000,
    )
    _check_metric(metric, children)
    rows = []
    for run in children:
        status = run.data.tags.get(TAG_STATUS, "unknown")
        if not include_pruned and status != "completed":
            continue
        row = {
            "trial_id": run.data.tags.get(TAG_TRIAL),
            "status": status,
            metric: run.data.metrics.get(metric),
            "epochs_run": run.data.metrics.get("epoch"),
        }
        row.update({name: run.data.params.get(name) for name in searched})
        row.update({name: run.data.metrics.get(name) for name in _TIMINGS})
        row["run_id"] = run.info.run_id
        rows.append(row)
    table = pd.DataFrame(rows, columns=["trial_id", "status", metric, "epochs_run", *searched, *_TIMINGS, "run_id"])
    if not table.empty:
        table = table.sort_values(metric, ascending=(mode == "min"), na_position="last", kind="stable")
        table = table.reset_index(drop=True)
        table.index = table.index + 1
    if top is not None:
        table = table.head(top)
    return table, metric, mode


def _check_metric(metric: str, children: list[Any]) -> None:
    """A ``--metric`` no trial recorded is a typo: name what the trials did record."""
    recorded = sorted({key for run in children for key in run.data.metrics})
    if children and metric not in recorded:
        candidates = [key for key in recorded if key.startswith(("val_", "test_", "train_"))]
        raise TrackingError(f"--metric: no trial of this sweep recorded {metric!r}; recorded: {', '.join(candidates)}")


def format_table(table: pd.DataFrame) -> str:
    """The leaderboard as aligned text for the console."""
    if table.empty:
        return "(no trials)"
    shown = table.drop(columns=["run_id"])
    return shown.to_string(float_format=lambda v: f"{v:.4g}", na_rep="-")
