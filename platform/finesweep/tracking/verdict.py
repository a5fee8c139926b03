"""A sweep's verdict: one line saying whether its best trial beats each recorded baseline on
validation and test, and, when it does not, what the data suggests, with the figures.

Built once, when the sweep closes (``tuning._finish``), from what the sweep recorded: the baselines
on its parent run, the training split's examples per label (``data_summary.json``), the searched
learning-rate range and where each trial stopped. The line is the last of the console summary, the
parent run's ``finesweep.verdict`` tag and a line of ``finesweep report``.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from finesweep.objective import MetricGoal
from finesweep.tracking.baselines import BaselineFigure, BestTrial, gain

# A label with fewer training examples than this is rarely learnt by fine-tuning a whole model
# from a few epochs: the median label under it is "too few examples per label"
FEW_EXAMPLES_PER_LABEL = 50
# A learning rate within this factor of a bound of its range is "at the bound" (log scale: 1.1x)
AT_BOUND_FACTOR = 1.1
PROBE_PREFIX = "baseline_probe"


@dataclass(frozen=True)
class LearningRate:
    """The best trial's learning rate and the range the space searched it in."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class VerdictFacts:
    """What the verdict is judged from, each read from the sweep's record."""

    goal: MetricGoal  # the ranking goal (its stem names the figures compared)
    baselines: list[BaselineFigure]
    best: BestTrial | None
    train_label_counts: dict[str, int] = field(default_factory=dict)  # classification only
    learning_rate: LearningRate | None = None  # when learning_rate was searched on a range
    stopped_at: dict[str, float] = field(default_factory=dict)  # pruned trial -> the epoch it stopped at
    trials: int = 0
    first_rung: float | None = None  # the scheduler's first rung (epochs), when ASHA ran


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _stem(metric: str) -> str:
    return metric.split("_", 1)[1] if metric.startswith(("val_", "test_")) else metric


def _losses(facts: VerdictFacts) -> list[BaselineFigure]:
    """The baselines the best trial does not beat on validation or on test (where both are known)."""
    assert facts.best is not None
    lost = []
    for baseline in facts.baselines:
        gains = [gain(facts.goal, trial, base) for trial, base in ((facts.best.val, baseline.val), (facts.best.test, baseline.test))]
        if any(g is not None and g <= 0 for g in gains):
            lost.append(baseline)
    return lost


def verdict_line(facts: VerdictFacts) -> str:
    """``verdict: ...``: the best trial against each baseline, and what the data suggests when it loses."""
    stem = _stem(facts.goal.metric)
    if facts.best is None:
        hints = _hints(facts, [])
        return "verdict: no trial completed, so none is compared with the baselines" + (f"; {'; '.join(hints)}" if hints else "")
    trial = f"the best trial {facts.best.trial_id} ({stem} {_figure(facts.best.val)} / {_figure(facts.best.test)}, validation / test)"
    if not facts.baselines:
        return f"verdict: {trial}; the sweep recorded no baseline to compare it with"
    lost = _losses(facts)
    if not lost:
        names = ", ".join(f"{b.label} {_figure(b.val)} / {_figure(b.test)}" for b in facts.baselines)
        return f"verdict: {trial} beats every baseline: {names}"
    names = ", ".join(f"{b.label} {_figure(b.val)} / {_figure(b.test)}" for b in lost)
    hints = _hints(facts, lost)
    return f"verdict: {trial} does not beat {names}" + (f"; the data suggests: {'; '.join(hints)}" if hints else "")


def _hints(facts: VerdictFacts, lost: list[BaselineFigure]) -> list[str]:
    """What may explain a losing sweep, each with its figures; empty when nothing stands out."""
    hints = [hint for hint in (_few_examples(facts.train_label_counts), _probe_wins(lost),
                               _at_bound(facts.learning_rate), _pruned_at_first_rung(facts)) if hint]  # fmt: skip
    return hints


def _few_examples(counts: dict[str, int]) -> str | None:
    """Too few training examples per label: the median label's count under FEW_EXAMPLES_PER_LABEL."""
    if not counts:
        return None
    median = statistics.median(counts.values())
    if median >= FEW_EXAMPLES_PER_LABEL:
        return None
    fewest = min(counts, key=counts.__getitem__)
    return (f"too few examples per label: {sum(counts.values())} training examples over {len(counts)} labels, "
            f"median {median:g} per label (the fewest: {fewest!r}, {counts[fewest]}); "
            f"fine-tuning wants about {FEW_EXAMPLES_PER_LABEL} or more")  # fmt: skip


def _probe_wins(lost: list[BaselineFigure]) -> str | None:
    probe = next((b for b in lost if b.name == PROBE_PREFIX), None)
    if probe is None:
        return None
    return (f"the frozen probe wins ({_figure(probe.val)} / {_figure(probe.test)}): the base model's features "
            "already separate the labels better than fine-tuning left them; try a lower learning rate, fewer "
            "epochs or LoRA")  # fmt: skip


def _at_bound(rate: LearningRate | None) -> str | None:
    """The best learning rate sits at a bound of its searched range: the optimum may lie beyond it."""
    if rate is None or rate.value <= 0 or rate.low <= 0:
        return None
    for bound, side in ((rate.low, "lower"), (rate.high, "upper")):
        if abs(math.log(rate.value / bound)) <= math.log(AT_BOUND_FACTOR):
            return (f"learning_rate {rate.value:.3g} is at the {side} bound of the space [{rate.low:.3g}, "
                    f"{rate.high:.3g}]: widen it past {bound:.3g}")  # fmt: skip
    return None


def _pruned_at_first_rung(facts: VerdictFacts) -> str | None:
    """Every trial but at most one was stopped by ASHA at its first rung: judged on too few epochs."""
    if facts.first_rung is None or not facts.stopped_at or facts.trials < 2:
        return None
    at_first = [epoch for epoch in facts.stopped_at.values() if epoch <= facts.first_rung]
    if len(at_first) < facts.trials - 1:
        return None
    return (f"{len(at_first)} of {facts.trials} trials were stopped at the first rung (epoch {facts.first_rung:g}): "
            "ASHA judged them on that alone; raise scheduler.grace_period")  # fmt: skip


def learning_rate_of(space: dict[str, Any], params: dict[str, Any]) -> LearningRate | None:
    """The best trial's ``learning_rate`` in the range ``space`` (name -> its spec as recorded, a
    dict with ``low``/``high`` or ``values``) searched it in; None when it was not searched."""
    spec, value = space.get("learning_rate"), params.get("learning_rate")
    if not isinstance(spec, dict) or value is None:
        return None
    try:
        number = float(value)
        if "low" in spec and "high" in spec:
            return LearningRate(number, float(spec["low"]), float(spec["high"]))
        values = [float(v) for v in spec.get("values") or []]
    except (TypeError, ValueError):
        return None
    return LearningRate(number, min(values), max(values)) if len(values) > 1 else None


def sweep_verdict(board: Any, trials: list[Any], space: dict[str, Any], train_label_counts: dict[str, int],
                  first_rung: float | None) -> str:  # fmt: skip
    """The verdict line of a sweep from its leaderboard (every trial, ``include_pruned``), its trial
    runs, its searched space as recorded, its training split's examples per label and its first rung."""
    from finesweep.tracking.baselines import best_trial_of
    from finesweep.tracking.metric_names import recorded_metric
    from finesweep.tracking.schema import TAG_STATUS

    best = best_trial_of(board)
    runs = {run.info.run_id: run for run in trials}
    best_row = board.table[board.table["trial_id"] == best.trial_id] if best is not None else board.table.iloc[0:0]
    params = dict(runs[best_row.iloc[0]["run_id"]].data.params) if not best_row.empty and best_row.iloc[0]["run_id"] in runs else {}
    stopped = {run.info.run_id: float(recorded_metric(run.data.metrics, "epoch") or 0)
               for run in trials if run.data.tags.get(TAG_STATUS) == "pruned"}  # fmt: skip
    facts = VerdictFacts(board.goal, list(board.baselines), best, dict(train_label_counts),
                         learning_rate_of(space, params), stopped, len(trials), first_rung)  # fmt: skip
    return verdict_line(facts)
