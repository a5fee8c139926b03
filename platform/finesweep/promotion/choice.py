"""Which trial of a sweep challenges the champion, and on which held-out figure it is judged.

The rule: among the sweep's completed trials that meet every constraint (the sweep's own plus
any given to ``promote-best-model``), and for a sweep with several objectives among its Pareto
front, take the best by ``--metric`` (default: the primary goal) in that metric's own direction.
The challenger is then judged on the held-out counterpart of that metric (``val_macro_f1`` ->
``test_macro_f1``); a cost metric without one (latency, size) is judged on the sweep's first
quality goal that has one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from finesweep.errors import PromotionRefused, TrackingError
from finesweep.objective import Constraint, MetricGoal


@dataclass(frozen=True)
class Choice:
    """The challenger: its run, why it was chosen, and the held-out goal that decides."""

    run_id: str
    trial_id: str
    reason: str
    deciding: MetricGoal  # the test-split figure the comparison with the champion uses


def choose_challenger(board: Any, task: Any, constraints: tuple[Constraint, ...], force: bool) -> Choice:
    """The challenger on ``board`` (a Leaderboard including every trial). Raises TrackingError when
    no completed trial exists, and PromotionRefused (exit 3) when none meets the constraints,
    unless ``force``."""
    objective = board.objective.with_constraints(constraints)
    rows = [row for _, row in board.table.iterrows() if row["status"] == "completed"]
    if not rows:
        raise TrackingError(f"sweep {board.sweep!r} has no completed trial to promote")
    feasible = [row for row in rows if objective.feasible(board.metrics[row["run_id"]])]
    pool, scope = feasible, _scope(objective, len(feasible), len(rows))
    if not feasible:
        if not force:
            raise PromotionRefused(f"none of the {len(rows)} completed trials meets "
                                   f"{', '.join(c.text for c in objective.constraints)}; --force promotes the best anyway")  # fmt: skip
        pool, scope = rows, f"the {len(rows)} completed trials (forced: none meets the constraints)"
    if board.objective.multi:
        on_front = [row for row in pool if row["trial_id"] in board.front] or pool
        scope = f"{len(on_front)} Pareto-optimal of {scope}"
        pool = on_front
    goal = board.goal
    best = max((row for row in pool if _finite(row.get(goal.metric))), key=lambda row: goal.gain(row[goal.metric]), default=None)
    if best is None:
        raise TrackingError(f"no candidate trial recorded {goal.metric}")
    deciding = _deciding_goal(task, goal, board.objective.goals)
    reason = f"trial {best['trial_id']}: best {goal.describe()} among {scope}"
    return Choice(best["run_id"], best["trial_id"], reason, deciding)


def _scope(objective: Any, feasible: int, completed: int) -> str:
    if not objective.constraints:
        return f"the {completed} completed trials"
    return f"the {feasible} completed trials (of {completed}) that meet {', '.join(c.text for c in objective.constraints)}"


def _finite(value: Any) -> bool:
    import math

    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _deciding_goal(task: Any, chosen: MetricGoal, goals: tuple[MetricGoal, ...]) -> MetricGoal:
    """The held-out goal of ``chosen``; for a metric without a split, the first goal's that has one."""
    for goal in (chosen, *goals):
        held = task.metrics.held_out(goal.metric)
        if held is not None and held != goal.metric:
            return task.metrics.goal(held)
    return task.metrics.goal(task.metrics.held_out(task.default_metric) or task.default_metric)
