"""The sweep's console: one short line per trial event instead of Ray's own output.

By default (``verbose: 1``) a sweep prints finesweep's lines only: each trial's start with its
sampled values, one line per epoch, its end (completed, stopped early by ASHA, failed, restarted),
and a status line when nothing else was printed for a minute. Ray's trial table and the workers'
own output come back with ``verbose: 2`` (``finesweep sweep --verbose``).
"""

from __future__ import annotations

import re
import time
from typing import Any, Callable

from ray.tune import Callback

from finesweep.objective import Objective
from finesweep.tracking.callback import read_error
from finesweep.tracking.headline import error_headline
from finesweep.tracking.runs import SweepTracker
from finesweep.training import FINAL_KEY
from finesweep.tracking.failure import classify

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_HEARTBEAT_S = 60.0  # a status line after this many seconds without any other line


def compact(value: Any) -> str:
    """A number to 4 significant digits (``0.0003718``, ``0.527``), anything else as text."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return str(value) if isinstance(value, int) else f"{value:.4g}"


class ConsoleProgress(Callback):
    """Prints each trial's start, epochs and end as single lines through ``say``."""

    def __init__(self, say: Callable[[str], None], tracker: SweepTracker, objective: Objective,
                 searched: list[str], show_tracebacks: bool = False, level: int = 1,
                 echo: Callable[[str], None] = print):  # fmt: skip
        self.say = say  # a finesweep line ("finesweep: ...")
        self.echo = echo  # a line as it is (a traceback's)
        # trial numbers come from the tracker, so the console and MLflow's run names agree (also
        # when Tune restores this callback from its saved state on --resume)
        self.tracker = tracker
        self.objective = objective
        self.searched = searched
        self.show_tracebacks = show_tracebacks
        self.level = level  # 0: only failures; 1: every trial event
        self._last_line = time.monotonic()
        self._started = time.monotonic()
        self._best: tuple[float, str] | None = None

    def _print(self, line: str, always: bool = False) -> None:
        if always or self.level >= 1:
            self.say(line)
            self._last_line = time.monotonic()

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        values = ", ".join(f"{name} {compact(trial.config[name])}" for name in self.searched if name in trial.config)
        # a sweep of the fixed train section searches nothing: no values to list
        self._print(f"{self._label(trial.trial_id)} started" + (f": {values}" if values else ""))

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        goal = self.objective.primary
        value = result.get(goal.metric)
        if isinstance(value, (int, float)) and goal.better(value, self._best[0] if self._best else None):
            self._best = (float(value), self._label(trial.trial_id))
        epochs = trial.config.get("epochs")
        epoch = f"epoch {result.get('epoch', result.get('training_iteration', '?'))}" + (f"/{epochs}" if epochs else "")
        seconds = result.get("time_this_iter_s")
        timing = f", {seconds:.0f} s" if isinstance(seconds, (int, float)) else ""
        loss = result.get("train_loss")
        detail = f" (train_loss {compact(loss)}{timing})" if isinstance(loss, (int, float)) else ""
        self._print(f"{self._label(trial.trial_id)} {epoch}: {self._figures(result)}{detail}")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        last = trial.last_result or {}
        ran = last.get("epoch", last.get("training_iteration", "?"))
        figures = self._figures(last)
        if last.get(FINAL_KEY) == 1.0:
            early = " (early stopping: no improvement)" if last.get("stopped_early") == 1.0 else ""
            if last.get("ended_by_budget") == 1.0:
                early = " (the sweep's budget is spent)"
            self._print(f"{self._label(trial.trial_id)} completed after {ran} epoch(s){early}: {figures}")
        else:
            self._print(f"{self._label(trial.trial_id)} stopped early by ASHA after {ran} epoch(s): {figures}")

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._print(f"{self._label(trial.trial_id)} failed ({self._headline(trial)}); "
                    "restarting it from its latest checkpoint", always=True)  # fmt: skip

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        text = read_error(getattr(trial, "error_file", None))
        where = getattr(trial, "error_file", None) or "the trial's folder"
        hint = "" if self.show_tracebacks else f" (traceback: rerun with --debug, or see {where})"
        failure = classify(text, (trial.last_result or {}).get("epoch"))  # out of memory: say so, and the phase
        reason = f"{failure.describe()}: " if failure.out_of_memory else ""
        self._print(f"{self._label(trial.trial_id)} failed: {reason}{self._headline(trial)}{hint}", always=True)
        if self.show_tracebacks and text:
            for line in _ANSI.sub("", text).rstrip().splitlines():  # Ray colours its error files
                self.echo(f"    {line}")

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        now = time.monotonic()
        if self.level < 1 or now - self._last_line < _HEARTBEAT_S:
            return
        running = sum(1 for t in trials if t.status == "RUNNING")
        done = sum(1 for t in trials if t.status in ("TERMINATED", "ERROR"))
        waiting = sum(1 for t in trials if t.status == "PENDING")
        best = f"; best {self.objective.primary.metric} {compact(self._best[0])} ({self._best[1]})" if self._best else ""
        minutes = (now - self._started) / 60
        self._print(f"{running} running, {done} finished, {waiting} waiting{best}; {minutes:.0f} min so far")

    def _figures(self, result: dict) -> str:
        """``val_macro_f1 0.527`` (every objective metric, in order)."""
        return ", ".join(f"{metric} {compact(result.get(metric))}" for metric in self.objective.metrics)

    def _label(self, trial_id: str) -> str:
        return self.tracker.trials.numbers().label(trial_id)

    def _headline(self, trial: Any) -> str:
        text = read_error(getattr(trial, "error_file", None))
        return error_headline(text) if text else "no error text"

