"""Objectives: metrics with their directions, constraints on them, and Pareto fronts.

Pure Python with no heavy imports: config validation, the tuner, tracking, promotion and the tasks
(which declare their metrics here) share these typed values.
"""

from finesweep.objective.catalog import MetricCatalog, MetricFamily, cost_families
from finesweep.objective.constraints import Constraint, parse_constraint
from finesweep.objective.goals import MetricGoal, Mode, Objective

__all__ = [
    "Constraint",
    "MetricCatalog",
    "MetricFamily",
    "MetricGoal",
    "Mode",
    "Objective",
    "cost_families",
    "parse_constraint",
]
