"""What a sweep optimises: one or more metrics, each with the direction that makes it better.

A :class:`MetricGoal` is a metric name and its mode; an :class:`Objective` is the ordered goals of
a sweep (the first one is its primary metric) plus its constraints. Directions are never guessed
from a metric's name: they come from the task's :class:`~finesweep.objective.catalog.MetricCatalog`.
Objects here are frozen and free of heavy imports, so config validation, the tuner, tracking and
promotion all pass the same typed value instead of loose ``metric``/``mode`` strings.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from finesweep.objective.constraints import Constraint, parse_constraint

Mode = Literal["max", "min"]


@dataclass(frozen=True)
class MetricGoal:
    """One metric and its direction: ``val_macro_f1`` (max), ``latency_ms_per_text`` (min)."""

    metric: str
    mode: Mode

    @property
    def ascending(self) -> bool:
        """True when smaller is better: the sort order that puts the best value first."""
        return self.mode == "min"

    @property
    def optuna_direction(self) -> str:
        """Optuna's word for the mode: ``maximize`` or ``minimize``."""
        return "maximize" if self.mode == "max" else "minimize"

    def gain(self, value: float) -> float:
        """``value`` signed so that larger is always better (for sorting and Pareto dominance)."""
        return value if self.mode == "max" else -value

    def better(self, value: float, than: float | None) -> bool:
        """True when ``value`` beats ``than`` (any number beats None)."""
        return than is None or self.gain(value) > self.gain(than)

    def describe(self) -> str:
        """``val_macro_f1 (max)``."""
        return f"{self.metric} ({self.mode})"


@dataclass(frozen=True)
class Objective:
    """A sweep's goals (the first is the primary metric) and the constraints a trial must meet."""

    goals: tuple[MetricGoal, ...]
    constraints: tuple[Constraint, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.goals:
            raise ValueError("an objective needs at least one metric")

    @property
    def primary(self) -> MetricGoal:
        """The first goal: what a single-objective searcher, checkpoints and ties are decided by."""
        return self.goals[0]

    @property
    def multi(self) -> bool:
        """True for two or more goals (a Pareto front instead of one best trial)."""
        return len(self.goals) > 1

    @property
    def metrics(self) -> list[str]:
        """The goals' metric names, in order."""
        return [goal.metric for goal in self.goals]

    @property
    def modes(self) -> list[str]:
        """The goals' modes, in order."""
        return [goal.mode for goal in self.goals]

    def goal(self, metric: str) -> MetricGoal | None:
        """The goal on ``metric``, or None when this objective does not optimise it."""
        return next((goal for goal in self.goals if goal.metric == metric), None)

    def describe(self) -> str:
        """``val_macro_f1 (max), latency_ms_per_text (min); subject to latency_ms_per_text <= 15``."""
        text = ", ".join(goal.describe() for goal in self.goals)
        if self.constraints:
            text += "; subject to " + ", ".join(c.text for c in self.constraints)
        return text

    def values(self, metrics: Mapping[str, Any]) -> tuple[float, ...] | None:
        """The goals' values in ``metrics`` as floats, or None when one is missing or not finite."""
        out = []
        for goal in self.goals:
            value = metrics.get(goal.metric)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                return None
            out.append(float(value))
        return tuple(out)

    def gains(self, metrics: Mapping[str, Any]) -> tuple[float, ...] | None:
        """:meth:`values` signed so that larger is better on every goal (Pareto dominance)."""
        values = self.values(metrics)
        return None if values is None else tuple(g.gain(v) for g, v in zip(self.goals, values))

    def violations(self, metrics: Mapping[str, Any]) -> list[str]:
        """The constraints ``metrics`` breaks (a missing metric breaks its constraint)."""
        return [c.text for c in self.constraints if not c.satisfied(metrics.get(c.metric))]

    def feasible(self, metrics: Mapping[str, Any]) -> bool:
        """True when every constraint holds."""
        return not self.violations(metrics)

    def with_constraints(self, extra: tuple[Constraint, ...]) -> "Objective":
        """This objective with ``extra`` constraints added (promotion's own rule)."""
        return Objective(self.goals, self.constraints + tuple(extra))

    def to_json(self) -> str:
        """The objective as compact JSON, for the parent run's ``finesweep.objective`` tag."""
        record = {"goals": [[g.metric, g.mode] for g in self.goals], "constraints": [c.text for c in self.constraints]}
        return json.dumps(record, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "Objective":
        """The inverse of :meth:`to_json` (ValueError for anything else)."""
        record = json.loads(text)
        goals = tuple(MetricGoal(str(metric), _mode(mode)) for metric, mode in record["goals"])
        return cls(goals, tuple(parse_constraint(str(c)) for c in record.get("constraints", [])))


def _mode(value: Any) -> Mode:
    if value not in ("max", "min"):
        raise ValueError(f"a mode is max or min (got {value!r})")
    return value
