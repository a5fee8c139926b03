"""Constraints on a trial's metrics, such as ``latency_ms_per_text <= 15``.

A constraint is read by a three-part grammar (metric name, comparison, number) with one regular
expression; nothing is ever evaluated as code. It follows Optuna's convention for
``constraints_func``: :meth:`Constraint.violation` is <= 0 when the constraint holds and grows with
the distance to its bound when it does not.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

Comparison = Literal["<=", "<", ">=", ">"]

# ASCII digits only (and ASCII spaces): ``\d`` and float() also read fullwidth ("５") and
# Arabic-Indic digits, which a reader of the constraint would not take for a number
_NUMBER = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_GRAMMAR = re.compile(rf"^\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*(<=|>=|<|>)\s*({_NUMBER})\s*$", re.ASCII)
# a strict comparison that lands exactly on its bound is still a (tiny) violation for Optuna,
# which treats violation <= 0 as feasible
_STRICT_MARGIN = 1e-12


@dataclass(frozen=True)
class Constraint:
    """``metric op bound``, e.g. ``model_size_mb <= 5``."""

    metric: str
    op: Comparison
    bound: float

    @property
    def text(self) -> str:
        """The constraint as the user writes it."""
        return f"{self.metric} {self.op} {self.bound:g}"

    def violation(self, value: float | None) -> float:
        """Optuna's constraint value: <= 0 when satisfied; +inf when the metric is missing."""
        if value is None or not math.isfinite(value):
            return math.inf
        excess = value - self.bound if self.op in ("<=", "<") else self.bound - value
        if self.op in ("<", ">") and excess == 0:
            return _STRICT_MARGIN
        return excess

    def satisfied(self, value: Any) -> bool:
        """True when ``value`` is a finite number meeting the constraint."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return self.violation(float(value)) <= 0


def parse_constraint(text: str) -> Constraint:
    """``"latency_ms_per_text <= 15"`` as a :class:`Constraint`; ValueError naming the grammar otherwise."""
    match = _GRAMMAR.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"a constraint is `METRIC OP NUMBER` with OP one of <=, <, >=, > (e.g. \"latency_ms_per_text <= 15\") (got {text!r})"
        )
    bound = float(match.group(3))
    if not math.isfinite(bound):
        raise ValueError(f"a constraint's bound must be a finite number (got {text!r})")
    op: Comparison = match.group(2)  # type: ignore[assignment]  # the regex admits only these four
    return Constraint(match.group(1), op, bound)


def promotion_constraint_problems(texts: tuple[str, ...] | list[str], option: str = "--constraint") -> list[str]:
    """One line per promotion constraint that is not ``METRIC OP NUMBER`` or that constrains a
    held-out figure: a ``test_*`` metric is measured on the split that then judges the challenger,
    so selecting on it would pick the challenger by its own exam (as ``--metric test_*`` and a job
    file's ``test_`` constraints are refused)."""
    problems = []
    for text in texts:
        try:
            constraint = parse_constraint(text)
        except ValueError as exc:
            problems.append(f"{option}: {exc}")
            continue
        if constraint.metric.startswith("test_"):
            problems.append(f"{option}: {constraint.metric} is measured on the held-out test split, which decides the "
                            f"promotion; constrain its validation counterpart val_{constraint.metric.removeprefix('test_')} "
                            "instead")  # fmt: skip
    return problems
