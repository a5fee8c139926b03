"""A sweep's record read from MLflow once: its parent run and every trial run, as Tune's
``ResultGrid`` holds a finished experiment's results.

After Tune ends, the summary, the leaderboard, the plots, the orphan check and the Pareto and
feasibility tags all read the same trial runs; reading them once keeps the sweep's closing cost
one ``search_runs`` pass, whatever the number of trials (at 1,000 trials each pass costs seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from finesweep.errors import TrackingError
from finesweep.tracking.listing import sweep_trials
from finesweep.tracking.headline import error_headline
from finesweep.tracking.metric_names import SYSTEM_PREFIX, mlflow_name
from finesweep.tracking.schema import TAG_ERROR, TAG_ROLE, TAG_STATUS, TAG_SWEEP, TAG_TRIAL


@dataclass(frozen=True)
class SweepSnapshot:
    """The parent run and the trial runs of one sweep, as MLflow held them when read."""

    parent: Any  # mlflow.entities.Run
    trials: tuple[Any, ...]  # mlflow.entities.Run, in MLflow's order

    @property
    def experiment_id(self) -> str:
        """The experiment the sweep's runs are in."""
        return self.parent.info.experiment_id

    def with_status(self, status: str) -> list[Any]:
        """The trial runs whose ``finesweep.status`` is ``status``."""
        return [run for run in self.trials if run.data.tags.get(TAG_STATUS) == status]

    def without(self, run_ids: set[str]) -> "SweepSnapshot":
        """The same snapshot less the runs named (retired orphans)."""
        return SweepSnapshot(self.parent, tuple(run for run in self.trials if run.info.run_id not in run_ids))

    def statuses(self) -> dict[str, str]:
        """Trial id -> status tag of every trial run."""
        return {_trial_id(run): run.data.tags.get(TAG_STATUS, "unknown") for run in self.trials}

    def errors(self, remembered: dict[str, str] | None = None) -> dict[str, str]:
        """The one-line error of every failed trial: its tag, else what this driver remembered."""
        errors = {_trial_id(run): run.data.tags.get(TAG_ERROR, "") for run in self.with_status("failed")}
        for trial, text in (remembered or {}).items():
            if trial in errors and not errors[trial]:
                errors[trial] = error_headline(text)
        return {trial: error or "unknown error" for trial, error in errors.items()}

    def metric_values(self, key: str) -> list[float]:
        """The latest value of reported key ``key`` of every trial that recorded it."""
        name = mlflow_name(key)
        return [run.data.metrics[name] for run in self.trials if name in run.data.metrics]

    def mean_metrics(self, prefix: str) -> dict[str, float]:
        """Mean over the trials of every reported key starting with ``prefix`` (as reported, e.g.
        ``startup_data_s``, whatever MLflow name it was logged under)."""
        values: dict[str, list[float]] = {}
        for run in self.trials:
            for key, value in run.data.metrics.items():
                reported = key.removeprefix(SYSTEM_PREFIX)
                if reported.startswith(prefix):
                    values.setdefault(reported, []).append(value)
        return {key: sum(v) / len(v) for key, v in sorted(values.items())}


def _trial_id(run: Any) -> str:
    return run.data.tags.get(TAG_TRIAL, run.info.run_id)


def sweep_parent(mlflow_client: Any, sweep: str) -> Any:
    """The parent run of sweep ``sweep`` in any experiment (TrackingError if none)."""
    experiments = [e.experiment_id for e in mlflow_client.search_experiments()]
    runs = mlflow_client.search_runs(
        experiments, filter_string=f"tags.`{TAG_SWEEP}` = '{sweep}' and tags.`{TAG_ROLE}` = 'sweep'", max_results=1
    )
    if not runs:
        raise TrackingError(f"no sweep named {sweep!r} in the MLflow store; `finesweep sweeps` lists them")
    return runs[0]


def read_sweep(mlflow_client: Any, sweep: str) -> SweepSnapshot:
    """The sweep's parent run and all its trial runs (page by page); TrackingError when the store
    holds no sweep of that name."""
    parent = sweep_parent(mlflow_client, sweep)
    return SweepSnapshot(parent, tuple(sweep_trials(mlflow_client, parent.info.experiment_id, sweep)))
