"""The leaderboard: a sweep's trials ranked by its metric, read back from MLflow."""

from __future__ import annotations

import math
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
            f"no sweep named {sweep!r} in the MLflow store; `finesweep sweeps` lists them"
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


def significant(value: Any) -> str:
    """A cell as printed: numbers (and parameter values, which MLflow keeps as text) to 4
    significant digits, integers whole, anything else as it is; ``-`` for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        if not math.isfinite(number) or value.strip().lstrip("+-").isdigit():
            return value  # integers and inf/nan as written
        value = number
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.4g}"


def rounded(table: pd.DataFrame) -> pd.DataFrame:
    """Every cell of ``table`` as :func:`significant` prints it."""
    return table.apply(lambda column: column.map(significant))


def format_table(table: pd.DataFrame) -> str:
    """The leaderboard as aligned text for the console, numbers to 4 significant digits."""
    if table.empty:
        return "(no trials)"
    return rounded(table.drop(columns=["run_id"])).to_string()


def sweeps_table(tracking_uri: str, experiment: str | None = None) -> pd.DataFrame:
    """Every sweep in the store (or in ``experiment``), newest first: name, experiment, task, start
    time, status, completed/pruned/failed trial counts and the best value of its metric."""
    mlflow_client = client(tracking_uri)
    experiments = {e.experiment_id: e.name for e in mlflow_client.search_experiments()}
    if experiment is not None:
        experiments = {key: name for key, name in experiments.items() if name == experiment}
        if not experiments:
            raise TrackingError(f"--experiment: no experiment named {experiment!r} in the MLflow store")
    parents = mlflow_client.search_runs(
        list(experiments), filter_string=f"tags.`{TAG_ROLE}` = 'sweep'", order_by=["attributes.start_time DESC"],
        max_results=10_000,
    ) if experiments else []  # fmt: skip
    rows = []
    for run in parents:
        tags, metrics = run.data.tags, run.data.metrics
        metric = tags.get("finesweep.metric", "")
        rows.append({
            "sweep": tags.get(TAG_SWEEP),
            "experiment": experiments.get(run.info.experiment_id),
            "task": tags.get("finesweep.task"),
            "started (UTC)": pd.Timestamp(run.info.start_time, unit="ms").strftime("%Y-%m-%d %H:%M"),
            "status": tags.get(TAG_STATUS, run.info.status.lower()),
            "completed": metrics.get("n_completed"),
            "pruned": metrics.get("n_pruned"),
            "failed": metrics.get("n_failed"),
            "metric": metric,
            "best": metrics.get(f"best_{metric}"),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["sweep", "experiment", "task", "started (UTC)", "status", "completed", "pruned",
                                       "failed", "metric", "best"])  # fmt: skip


def format_sweeps(table: pd.DataFrame) -> str:
    """The sweeps table as aligned text: counts as integers, values to 4 significant digits."""
    if table.empty:
        return "(no sweeps)"
    return rounded(table).to_string(index=False)
