"""The baselines a sweep logged on its parent run, read back for the summary, ``leaderboard``,
``sweeps``, the report and promotion's guard.

A task declares its baselines (``Task.baselines``: the name prefix of each and what it is); their
figures are the parent run's ``<prefix>val_<metric>`` and ``<prefix>test_<metric>``, every prefix
starting ``baseline_``. They are tags, not metrics: MLflow's chart view draws a chart for every
metric key, sorted by name, and ``baseline_*`` sorts before ``best_<metric>`` and every trial metric,
so baselines logged as metrics would push the objective's chart off the first screen. A gain is
signed by the metric's direction: positive when the trial is better, for a loss too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from finesweep.objective import MetricGoal
from finesweep.tracking.schema import BASELINE_PREFIX, TAG_SWEEP

# The job's default configuration trained once (every task's sweeps log it; tuning._background)
DEFAULT_BASELINE = ("baseline_default_", "default configuration, trained once")
DEFAULT_EPOCHS = "baseline_default_epochs"


def is_baseline(name: str) -> bool:
    """Whether a figure of the sweep as a whole is a baseline (a tag) rather than a metric."""
    return name.startswith(BASELINE_PREFIX)


def baseline_tag_value(value: float) -> str:
    """A figure as its tag's text: ``repr`` keeps every digit, so reading it back is exact."""
    return repr(float(value))


def recorded_figures(parent: Any, warnings: list[str] | None = None) -> dict[str, float]:
    """The baseline figures a sweep's parent run holds, as numbers: the one place that reads them
    back, for the summary, ``leaderboard``, ``sweeps``, the report and promotion's floor.

    A tag whose value is not a finite number (``nan``, ``inf``, text) is left out: read as a figure,
    ``nan`` compares false with everything (it would hide the other baselines from ``sweeps``, print
    ``gain +nan`` and make a floor no model beats). Each tag left out adds a line naming it to
    ``warnings``, when given, for the caller to print."""
    figures = {}
    for key, text in parent.data.tags.items():
        if not is_baseline(key):
            continue
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            figures[key] = value
        elif warnings is not None:
            sweep = parent.data.tags.get(TAG_SWEEP, parent.info.run_name)
            shown = text if len(text) <= 40 else text[:40] + "..."
            warnings.append(f"sweep {sweep!r}: its parent run's tag {key} is {shown!r}, not a finite number; "
                            "left out of the baselines")  # fmt: skip
    return figures


@dataclass(frozen=True)
class BaselineFigure:
    """One baseline on one metric: its validation and test figures (None where not logged)."""

    name: str  # the name prefix without its trailing underscore: baseline_trivial, baseline_bm25, ...
    label: str  # what it computes, for people: "frozen base + logistic regression"
    val: float | None
    test: float | None


def _stem(metric: str) -> str:
    """``val_macro_f1`` -> ``macro_f1`` (a cost metric such as latency has no split and no stem)."""
    for split in ("val_", "test_"):
        if metric.startswith(split):
            return metric.removeprefix(split)
    return ""


def recorded_baselines(task_name: str, figures: dict[str, float], goal: MetricGoal) -> list[BaselineFigure]:
    """The task's baselines among a parent run's ``figures`` (see :func:`recorded_figures`) for
    ``goal``'s metric, in the task's order."""
    from finesweep.tasks import get_task, task_names

    stem = _stem(goal.metric)
    if not stem or task_name not in task_names():
        return []
    found = []
    for prefix, label in (*get_task(task_name).baselines, DEFAULT_BASELINE):
        val, test = figures.get(f"{prefix}val_{stem}"), figures.get(f"{prefix}test_{stem}")
        if val is not None or test is not None:
            found.append(BaselineFigure(prefix.rstrip("_"), label, val, test))
    return found


def gain(goal: MetricGoal, value: float | None, baseline: float | None) -> float | None:
    """How much better ``value`` is than ``baseline`` on ``goal`` (negative: worse)."""
    if value is None or baseline is None:
        return None
    return goal.gain(value) - goal.gain(baseline)


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"


@dataclass(frozen=True)
class Compute:
    """Trial-epochs of the sweep's trials against those of its default configuration, trained once."""

    sweep_epochs: float
    default_epochs: float

    def line(self) -> str:
        """``compute: the sweep's trials ran 17 trial-epochs, the default configuration 3 (5.7x)``."""
        ratio = self.sweep_epochs / self.default_epochs if self.default_epochs else float("inf")
        return (f"compute: the sweep's trials ran {self.sweep_epochs:.0f} trial-epochs, the default configuration "
                f"{self.default_epochs:.0f} ({ratio:.1f}x)")  # fmt: skip


def sweep_compute(figures: dict[str, float], trial_epochs: float) -> Compute | None:
    """The compute comparison, when the sweep logged its default trial."""
    default = figures.get(DEFAULT_EPOCHS)
    return None if default is None else Compute(trial_epochs, default)


def baseline_lines(figures: list[BaselineFigure], goal: MetricGoal, best: Any = None,
                   compute: Compute | None = None) -> list[str]:  # fmt: skip
    """The baselines as printed: each one's validation / test figure and, given the best trial's
    (``best``: its trial id and validation and test values), the trial's gain over it; then the
    compute of the sweep against its default configuration's."""
    if not figures:
        return []
    stem = _stem(goal.metric)
    head = f"baselines on {stem} (validation / test)"
    if best is not None:
        head += f", and the gain of the best trial {best.trial_id} ({_figure(best.val)} / {_figure(best.test)}) over each"
    width = max(len(f.label) for f in figures)
    lines = [head + ":"]
    for figure in figures:
        line = f"  {figure.label:<{width}}  {_figure(figure.val)} / {_figure(figure.test)}"
        if best is not None:
            line += f"   gain {_signed(gain(goal, best.val, figure.val))} / {_signed(gain(goal, best.test, figure.test))}"
        lines.append(line)
    if compute is not None:
        lines.append("  " + compute.line())
    return lines


@dataclass(frozen=True)
class BestTrial:
    """The figures of the trial the baselines are compared with."""

    trial_id: str
    val: float | None
    test: float | None


def best_trial_of(board: Any) -> BestTrial | None:
    """The top completed trial of a leaderboard with its validation and test figures on the ranking
    metric; None when no trial completed (pruned and failed ones have no final figures)."""
    completed = board.table[board.table["status"] == "completed"] if not board.table.empty else board.table
    if completed.empty:
        return None
    top = completed.iloc[0]
    metrics = board.metrics.get(top["run_id"], {})
    stem = _stem(board.goal.metric)
    return BestTrial(str(top["trial_id"]), metrics.get(f"val_{stem}"), metrics.get(f"test_{stem}"))
