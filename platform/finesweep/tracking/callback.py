"""A Ray Tune callback that mirrors every trial into MLflow from the sweep driver."""

from __future__ import annotations

from typing import Any

from ray.tune import Callback

from finesweep.tracking.outbox import Outbox
from finesweep.tracking.runs import SweepTracker
from finesweep.training import FINAL_KEY


def trial_status(last_result: dict[str, Any]) -> str:
    """completed when the trial's last report was its final one (last epoch or early stop), else pruned."""
    return "completed" if last_result.get(FINAL_KEY) == 1.0 else "pruned"


class MlflowSweepCallback(Callback):
    """Creates a child run when a trial starts, logs each epoch, and closes it with its status.

    Tune calls ``on_trial_complete`` both for trials that ended on their own and for those ASHA
    stopped; the trial's last result tells which (see :func:`trial_status`). Every write goes
    through an :class:`Outbox`, so a tracking server that goes away queues writes instead of
    stopping the sweep.
    """

    def __init__(
        self, tracker: SweepTracker, fixed_params: dict[str, Any], extra_params: dict[str, Any], outbox: Outbox
    ):
        self.tracker = tracker
        self.fixed_params = fixed_params
        self.extra_params = extra_params
        self.outbox = outbox
        self._reconciled = False

    def _params(self, trial: Any) -> dict[str, Any]:
        return {**self.fixed_params, **trial.config, **self.extra_params}

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        # ``--resume``: Tune restores trials that ended before the driver died and never calls
        # anything for them again; one whose MLflow writes were still queued at that moment (a
        # SIGKILL right after its last epoch) is recorded now from the state Tune saved.
        if self._reconciled:
            return
        self._reconciled = True
        for trial in trials:
            if trial.status in ("TERMINATED", "ERROR"):
                self._record_restored(trial)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        # Tune errors a trial without calling on_trial_error when it cannot reuse an actor for it
        # (the previous trial's thread outlived TUNE_FUNCTION_THREAD_TIMEOUT_S): such a trial is
        # recorded here as failed, with Tune's reason, so that no planned trial vanishes from MLflow.
        for trial in trials:
            if trial.status == "ERROR":
                self._record_restored(trial)

    def _record_restored(self, trial: Any) -> None:
        trial_id, params, config = trial.trial_id, self._params(trial), dict(trial.config)
        result = dict(trial.last_result or {})
        checkpoint = getattr(trial, "checkpoint", None)
        if "checkpoint_path" not in result and checkpoint is not None:
            result["checkpoint_path"] = str(checkpoint.path)
        failed = trial.status == "ERROR"
        error = (read_error(getattr(trial, "error_file", None)) or _error_text(trial)) if failed else None
        self.tracker.trials.numbers().assign(trial_id)

        def write() -> None:
            if self.tracker.trials.is_recorded(trial_id):
                return
            self.tracker.trials.child_run(trial_id, params, config)
            if result and not failed:
                self.tracker.trials.log_epoch(trial_id, result)
            self.tracker.trials.finish(trial_id, "failed" if failed else trial_status(result), error, result=result)

        self.outbox.write(f"trial {trial_id} (restored) final status and model", write)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        params = self._params(trial)
        self.tracker.trials.numbers().assign(trial.trial_id)  # now, in start order (runs are written later)
        config = dict(trial.config)
        self.outbox.write(f"trial {trial.trial_id} run", lambda: self.tracker.trials.child_run(trial.trial_id, params, config))

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        trial_id, params = trial.trial_id, self._params(trial)
        self.tracker.trials.remember_result(trial_id, result)

        config = dict(trial.config)

        def write() -> None:
            self.tracker.trials.child_run(trial_id, params, config)
            self.tracker.trials.log_epoch(trial_id, result)

        self.outbox.write(f"trial {trial_id} metrics", write)

    def on_checkpoint(self, iteration: int, trials: list, trial: Any, checkpoint: Any, **info: Any) -> None:
        # in-trial runtime: Tune persisted the trial's checkpoint (Train's path reports it as a metric)
        self.tracker.trials.remember_checkpoint(trial.trial_id, str(checkpoint.path))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        trial_id = trial.trial_id
        last = dict(self.tracker.trials.last_result(trial_id))  # read here, on Tune's thread
        self.outbox.write(
            f"trial {trial_id} final status and model",
            lambda: self.tracker.trials.finish(trial_id, trial_status(last), result=last),
        )

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        trial_id, params = trial.trial_id, self._params(trial)
        error = read_error(getattr(trial, "error_file", None)) or "trial failed (no error file)"
        self.tracker.trials.remember_error(trial_id, error)

        config = dict(trial.config)

        def write() -> None:
            self.tracker.trials.child_run(trial_id, params, config)
            self.tracker.trials.finish(trial_id, "failed", error)

        self.outbox.write(f"trial {trial_id} failure", write)


def _error_text(trial: Any) -> str:
    """What Tune knows of a failed trial that left no error file (an actor it could not reuse)."""
    error = getattr(trial, "error_msg", None) or getattr(getattr(trial, "run_metadata", None), "error_filename", None)
    return str(error) if error else "trial failed before it started (Tune left no error file)"


def read_error(path: str | None) -> str | None:
    """A failed trial's error file as text, or None when there is none to read."""
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None
