"""The leaderboard: a sweep's trials ranked by its objective, read back from MLflow.

One objective ranks by its metric's own direction (the task's declaration, never a guess from
the name). Several rank by Pareto front: the non-dominated completed trials first, each front in
the order of the primary metric. With constraints, feasible trials come before infeasible ones.
``--metric M`` ranks by M in M's own direction instead. Cells are typed: numbers are rounded as
numbers, ids, names and text values printed as recorded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from finesweep.errors import TrackingError
from finesweep.objective import MetricGoal, Objective
from finesweep.objective.pareto import non_dominated_ranks
from finesweep.tracking.baselines import BaselineFigure, Compute, recorded_baselines, recorded_figures, sweep_compute
from finesweep.tracking.listing import all_runs
from finesweep.tracking.metric_names import mlflow_name, recorded_metric
from finesweep.tracking.schema import TAG_ROLE, TAG_SEARCHED, TAG_STATUS, TAG_SWEEP, TAG_TASK, TAG_TRIAL
from finesweep.tracking.snapshot import SweepSnapshot, read_sweep, sweep_parent
from finesweep.tracking.store import client
from finesweep.tracking.trials import recorded_objective, trial_config

_TIMINGS = ["time_to_first_step_s", "train_time_s"]  # columns; logged as system/<name>


@dataclass
class Leaderboard:
    """A sweep's trials best first, with the objective that ranked them and its Pareto front."""

    sweep: str
    task: str
    objective: Objective  # the sweep's own
    table: pd.DataFrame
    ranking: MetricGoal | None = None  # the goal of --metric, when it ranked the table instead
    front: list[str] = field(default_factory=list)  # trial ids of the Pareto front (several objectives)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # run id -> every metric it logged
    baselines: list[BaselineFigure] = field(default_factory=list)  # the parent's, on the ranking metric
    compute: Compute | None = None  # the sweep's trial-epochs against its default trial's
    warnings: list[str] = field(default_factory=list)  # what was read but left out (a baseline tag of nan), to print

    @property
    def goal(self) -> MetricGoal:
        """What orders the table: ``--metric``'s goal, else the primary goal."""
        return self.ranking or self.objective.primary

    def describe(self) -> str:
        """``by val_macro_f1 (max)`` or ``by Pareto front of ...``."""
        if self.ranking is None and self.objective.multi:
            return f"by Pareto front of {self.objective.describe()}"
        extra = f"; subject to {', '.join(c.text for c in self.objective.constraints)}" if self.objective.constraints else ""
        return f"by {self.goal.describe()}{extra}"


def sweep_objective(parent: Any) -> Objective:
    """The objective a sweep recorded (its primary-metric tags for sweeps recorded before that)."""
    return recorded_objective(parent.data.tags, parent.info.run_id)


def metric_goal(task_name: str, metric: str, trials: list[Any]) -> MetricGoal:
    """``metric`` with the direction the sweep's task declares (TrackingError naming what the trials
    recorded when no trial recorded it or the task does not report it)."""
    from finesweep.tasks import get_task, task_names

    recorded = sorted({key for run in trials for key in run.data.metrics})
    candidates = ", ".join(key for key in recorded if key.startswith(("val_", "test_", "train_")) or key.startswith(("latency", "model_size", "trainable")))
    if trials and metric not in recorded:
        raise TrackingError(f"--metric: no trial of this sweep recorded {metric!r}; recorded: {candidates}")
    mode = get_task(task_name).metrics.mode(metric) if task_name in task_names() else None
    if mode is None:
        raise TrackingError(f"--metric: {task_name} declares no direction for {metric!r}; rank by one of: {candidates}")
    return MetricGoal(metric, mode)


def leaderboard(tracking_uri: str, sweep: str, metric: str | None = None, top: int | None = None,
                include_pruned: bool = False) -> Leaderboard:  # fmt: skip
    """The sweep's trials, best first, read from MLflow. Pruned and failed trials only with
    ``include_pruned``."""
    return rank(read_sweep(client(tracking_uri), sweep), metric, top, include_pruned)


def rank(snapshot: SweepSnapshot, metric: str | None = None, top: int | None = None,
         include_pruned: bool = False) -> Leaderboard:  # fmt: skip
    """The leaderboard of a sweep already read (no MLflow request)."""
    parent, trials = snapshot.parent, list(snapshot.trials)
    sweep = parent.data.tags.get(TAG_SWEEP, parent.info.run_name)
    objective = sweep_objective(parent)
    task = parent.data.tags.get(TAG_TASK, "text_classification")
    ranking = metric_goal(task, metric, trials) if metric else None
    searched = [p for p in parent.data.tags.get(TAG_SEARCHED, "").split(",") if p]
    board = Leaderboard(sweep, task, objective, pd.DataFrame(), ranking)
    rows = [_row(run, board, searched) for run in trials if include_pruned or run.data.tags.get(TAG_STATUS) == "completed"]
    board.front = _front(rows, objective)
    board.metrics = {row["run_id"]: row["_metrics"] for row in rows}
    for row in rows:
        if objective.multi:
            row["pareto"] = row["trial_id"] in board.front
    board.table = _ranked(rows, board, searched, top)
    figures = recorded_figures(parent, board.warnings)
    board.baselines = recorded_baselines(task, figures, board.goal)
    board.compute = sweep_compute(figures, sum(recorded_metric(run.data.metrics, "epoch") or 0.0 for run in trials))
    return board


def _row(run: Any, board: Leaderboard, searched: list[str]) -> dict[str, Any]:
    metrics = run.data.metrics
    row: dict[str, Any] = {"trial_id": run.data.tags.get(TAG_TRIAL), "status": run.data.tags.get(TAG_STATUS, "unknown")}
    for name in dict.fromkeys([board.goal.metric, *board.objective.metrics]):
        row[name] = metrics.get(name)
    if board.objective.constraints:
        row["feasible"] = board.objective.feasible(metrics)
    row["epochs_run"] = recorded_metric(metrics, "epoch")
    config = trial_config(run, {})  # typed values from the trial's JSON; text params for older runs
    row.update({name: config.get(name, run.data.params.get(name)) for name in searched})
    row.update({name: metrics.get(mlflow_name(name), metrics.get(name)) for name in _TIMINGS})
    row["run_id"] = run.info.run_id
    row["_metrics"] = metrics
    return row


def _front(rows: list[dict[str, Any]], objective: Objective) -> list[str]:
    """Trial ids of the Pareto front among completed, feasible trials with every objective value."""
    if not objective.multi:
        return []
    candidates = [r for r in rows if r["status"] == "completed" and r.get("feasible", True)]
    points = [(r, objective.gains(r["_metrics"])) for r in candidates]
    points = [(r, g) for r, g in points if g is not None]
    ranks = non_dominated_ranks([g for _, g in points])
    return [r["trial_id"] for (r, _), rank in zip(points, ranks) if rank == 0]


def _ranked(rows: list[dict[str, Any]], board: Leaderboard, searched: list[str], top: int | None) -> pd.DataFrame:
    """Rows best first: completed before the rest, feasible before infeasible, then the front (for
    several objectives without --metric), then the ranking goal in its own direction."""
    goal = board.goal
    pareto_first = board.objective.multi and board.ranking is None

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        value = row.get(goal.metric)
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        return (row["status"] != "completed", not row.get("feasible", True), pareto_first and not row.get("pareto"),
                missing, 0.0 if missing else -goal.gain(value))  # fmt: skip

    ordered = sorted(rows, key=key)  # stable: ties keep MLflow's order
    metrics = list(dict.fromkeys([goal.metric, *board.objective.metrics]))
    flags = (["feasible"] if board.objective.constraints else []) + (["pareto"] if board.objective.multi else [])
    columns = ["trial_id", "status", *metrics, *flags, "epochs_run", *searched, *_TIMINGS, "run_id"]
    table = pd.DataFrame([{k: r.get(k) for k in columns} for r in ordered], columns=columns)
    table.index = table.index + 1
    return table.head(top) if top is not None else table


def significant(value: Any) -> str:
    """A cell as printed: a number to 4 significant digits (whole numbers whole), anything else as
    recorded; ``-`` for a missing value. Text is never parsed as a number: ids such as
    ``435477e3`` or ``12345_00003`` print as they are."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.4g}"


def rounded(table: pd.DataFrame) -> pd.DataFrame:
    """Every cell of ``table`` as :func:`significant` prints it."""
    return table.apply(lambda column: column.map(significant)).astype(object)


def format_table(table: pd.DataFrame) -> str:
    """The leaderboard as aligned text for the console."""
    if table.empty:
        return "(no trials)"
    return rounded(table.drop(columns=["run_id"])).to_string()


def sweeps_table(tracking_uri: str, experiment: str | None = None, warnings: list[str] | None = None) -> pd.DataFrame:
    """Every sweep in the store (or in ``experiment``), newest first: name, experiment, task, start
    time, status, completed/pruned/failed trial counts, its objective, the best value of its
    primary metric and the best of its baselines on it (for several objectives, the size of its
    Pareto front too). A baseline tag that is not a finite number is left out, named in
    ``warnings`` when given."""
    mlflow_client = client(tracking_uri)
    experiments = {e.experiment_id: e.name for e in mlflow_client.search_experiments()}
    if experiment is not None:
        experiments = {key: name for key, name in experiments.items() if name == experiment}
        if not experiments:
            raise TrackingError(f"--experiment: no experiment named {experiment!r} in the MLflow store")
    parents = all_runs(mlflow_client, list(experiments), f"tags.`{TAG_ROLE}` = 'sweep'", order_by=["attributes.start_time DESC"])
    rows = [_sweep_row(run, experiments, warnings) for run in parents]
    columns = ["sweep", "experiment", "task", "started (UTC)", "status", "completed", "pruned", "failed",
               "objective", "best", "best_baseline", "pareto_front"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def _sweep_row(run: Any, experiments: dict[str, str], warnings: list[str] | None = None) -> dict[str, Any]:
    tags, metrics = run.data.tags, run.data.metrics
    objective = sweep_objective(run)
    return {
        "sweep": tags.get(TAG_SWEEP),
        "experiment": experiments.get(run.info.experiment_id),
        "task": tags.get(TAG_TASK),
        "started (UTC)": pd.Timestamp(run.info.start_time, unit="ms").strftime("%Y-%m-%d %H:%M"),
        "status": tags.get(TAG_STATUS, run.info.status.lower()),
        "completed": _count(recorded_metric(metrics, "n_completed")),
        "pruned": _count(recorded_metric(metrics, "n_pruned")),
        "failed": _count(recorded_metric(metrics, "n_failed")),
        "objective": objective.describe(),
        "best": metrics.get(f"best_{objective.primary.metric}"),
        "best_baseline": _best_baseline(tags.get(TAG_TASK, "text_classification"), recorded_figures(run, warnings), objective.primary),
        "pareto_front": _count(recorded_metric(metrics, "pareto_front_size")) if objective.multi else None,
    }


def _best_baseline(task: str, figures: dict[str, float], goal: MetricGoal) -> float | None:
    """The best validation figure among the sweep's baselines on its primary metric."""
    values = [f.val for f in recorded_baselines(task, figures, goal) if f.val is not None]
    return max(values, key=goal.gain) if values else None


def _count(value: float | None) -> int | None:
    return None if value is None else int(value)


def format_sweeps(table: pd.DataFrame) -> str:
    """The sweeps table as aligned text: counts as integers, values to 4 significant digits."""
    if table.empty:
        return "(no sweeps)"
    return rounded(table).to_string(index=False)
