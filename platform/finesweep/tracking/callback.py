"""A Ray Tune callback that mirrors every trial into MLflow from the sweep driver."""

from __future__ import annotations

from typing import Any

from ray.tune import Callback

from finesweep.tracking.runs import SweepTracker
from finesweep.training import FINAL_KEY


def trial_status(last_result: dict[str, Any]) -> str:
    """completed when the trial's last report was its final one (last epoch or early stop), else pruned."""
    return "completed" if last_result.get(FINAL_KEY) == 1.0 else "pruned"


class MlflowSweepCallback(Callback):
    """Creates a child run when a trial starts, logs each epoch, and closes it with its status.

    Tune calls ``on_trial_complete`` both for trials that ended on their own and for those ASHA
    stopped; the trial's last result tells which (see :func:`trial_status`).
    """

    def __init__(self, tracker: SweepTracker, fixed_params: dict[str, Any], extra_params: dict[str, Any]):
        self.tracker = tracker
        self.fixed_params = fixed_params
        self.extra_params = extra_params

    def _params(self, trial: Any) -> dict[str, Any]:
        return {**self.fixed_params, **trial.config, **self.extra_params}

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.tracker.child_run(trial.trial_id, self._params(trial))

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self.tracker.child_run(trial.trial_id, self._params(trial))
        self.tracker.log_epoch(trial.trial_id, result)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.tracker.finish_child(trial.trial_id, trial_status(self.tracker.last_result(trial.trial_id)))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.tracker.child_run(trial.trial_id, self._params(trial))
        error = None
        if getattr(trial, "error_file", None):
            try:
                with open(trial.error_file, encoding="utf-8") as handle:
                    error = handle.read()
            except OSError:
                error = None
        self.tracker.finish_child(trial.trial_id, "failed", error or "trial failed (no error file)")
