"""Objectives, constraints, Pareto fronts and MO-ASHA's rung decisions, without Ray or a model."""

from __future__ import annotations

import itertools
import random

import pytest

from finesweep.objective import MetricGoal, Objective, parse_constraint
from finesweep.objective.pareto import dominates, hypervolume, non_dominated_ranks, pareto_front, priority_order


def _brute_force_front(points: list[tuple[float, ...]]) -> list[int]:
    return [i for i, p in enumerate(points) if not any(all(q >= x for q, x in zip(o, p)) and o != p for o in points)]


def test_fronts_match_a_brute_force_front_on_random_points():
    rng = random.Random(0)
    for _ in range(50):
        dims = rng.choice([2, 3])
        points = [tuple(rng.choice([0.1, 0.2, 0.3, 0.5]) for _ in range(dims)) for _ in range(rng.randint(1, 15))]
        assert pareto_front(points) == _brute_force_front(points), points
        ranks = non_dominated_ranks(points)
        for i, j in itertools.permutations(range(len(points)), 2):
            if dominates(points[i], points[j]):
                assert ranks[i] < ranks[j], (points[i], points[j])


def test_priority_order_puts_the_front_first_and_its_ends_before_its_middle():
    points = [(0.5, 0.5), (1.0, 0.0), (0.0, 1.0), (0.2, 0.2), (0.45, 0.55)]
    order = priority_order(points)
    assert set(order[:4]) == {0, 1, 2, 4} and order[-1] == 3, order
    assert set(order[:2]) == {1, 2}, "the ends of the front have infinite crowding distance"


def test_hypervolume_of_known_shapes():
    assert hypervolume([(1.0, 1.0)], (0.0, 0.0)) == pytest.approx(1.0)
    assert hypervolume([(1.0, 2.0), (2.0, 1.0)], (0.0, 0.0)) == pytest.approx(3.0)  # two 2x1 boxes overlap in 1x1
    assert hypervolume([(1.0, 1.0), (0.5, 0.5)], (0.0, 0.0)) == pytest.approx(1.0), "a dominated point adds nothing"
    assert hypervolume([(1.0, 1.0, 1.0), (2.0, 0.5, 0.5)], (0.0, 0.0, 0.0)) == pytest.approx(1.0 + 0.25)
    assert hypervolume([(-1.0, 1.0)], (0.0, 0.0)) == 0.0, "points outside the reference count for nothing"


def test_goals_rank_by_their_own_direction():
    loss, f1 = MetricGoal("val_loss", "min"), MetricGoal("val_macro_f1", "max")
    assert loss.better(0.3, 0.5) and not loss.better(0.5, 0.3) and loss.better(9.0, None)
    assert f1.better(0.5, 0.3) and f1.gain(0.5) == 0.5 and loss.gain(0.5) == -0.5
    objective = Objective((f1, MetricGoal("latency_ms_per_text", "min")), (parse_constraint("model_size_mb <= 5"),))
    assert Objective.from_json(objective.to_json()) == objective
    assert objective.gains({"val_macro_f1": 0.6, "latency_ms_per_text": 4.0}) == (0.6, -4.0)
    assert objective.gains({"val_macro_f1": 0.6}) is None, "a missing objective value"
    assert objective.violations({"model_size_mb": 6.0}) == ["model_size_mb <= 5"]
    assert objective.feasible({"model_size_mb": 5.0}) and not objective.feasible({})


@pytest.mark.parametrize(
    "text, metric, op, bound",
    [("latency_ms_per_text <= 15", "latency_ms_per_text", "<=", 15.0), ("model_size_mb<5e-1", "model_size_mb", "<", 0.5),
     ("  val_f1_joy >= .7 ", "val_f1_joy", ">=", 0.7), ("val_loss > -1", "val_loss", ">", -1.0)],
)  # fmt: skip
def test_constraint_grammar(text, metric, op, bound):
    constraint = parse_constraint(text)
    assert (constraint.metric, constraint.op, constraint.bound) == (metric, op, bound)


@pytest.mark.parametrize(
    "text",
    ["latency <= ", "__import__('os').system('x') <= 1", "a == 1", "a <= 1 or b", "a <= inf", "a <= nan", "<= 3", "a <= 1e999"],
)
def test_constraints_outside_the_grammar_are_refused_and_never_evaluated(text):
    with pytest.raises(ValueError, match="METRIC OP NUMBER|finite"):
        parse_constraint(text)


def test_constraint_violations_follow_optunas_sign_convention():
    at_most, above = parse_constraint("m <= 15"), parse_constraint("m > 2")
    assert at_most.violation(10.0) == -5.0 and at_most.violation(20.0) == 5.0
    assert above.violation(2.0) > 0, "a strict bound that is met exactly is broken"
    assert above.violation(3.0) == -1.0 and at_most.violation(None) == float("inf")


def _pareto_asha(rf: float = 2.0):
    from finesweep.tuning.schedulers.pareto_asha import ParetoASHA

    objective = Objective((MetricGoal("f1", "max"), MetricGoal("ms", "min")))
    return ParetoASHA(objective, max_t=4, grace_period=1, reduction_factor=rf)


def test_mo_asha_stops_a_dominated_trial_and_keeps_one_on_the_front():
    scheduler = _pareto_asha()
    assert [m for m, _ in scheduler.rungs] == [1.0, 2.0], "rungs below max_t, grace_period * rf**k"
    assert scheduler.decide("a", 1, {"f1": 0.5, "ms": 5.0}) == "CONTINUE", "the first at a rung always continues"
    assert scheduler.decide("b", 1, {"f1": 0.9, "ms": 1.0}) == "CONTINUE", "b dominates a"
    assert scheduler.decide("c", 1, {"f1": 0.1, "ms": 9.0}) == "STOP", "dominated by both: last of three"
    assert scheduler.decide("d", 1, {"f1": 0.95, "ms": 8.0}) == "CONTINUE", "on the front (better f1 than b)"
    assert scheduler.decide("a", 1, {"f1": 0.5, "ms": 5.0}) == "CONTINUE", "a rung decides once per trial"


def test_mo_asha_orders_infeasible_trials_after_feasible_ones():
    from finesweep.tuning.schedulers.pareto_asha import ParetoASHA

    objective = Objective((MetricGoal("f1", "max"), MetricGoal("ms", "min")), (parse_constraint("ms <= 3"),))
    scheduler = ParetoASHA(objective, max_t=4, grace_period=1, reduction_factor=2.0)
    scheduler.decide("ok", 1, {"f1": 0.2, "ms": 2.0})
    scheduler.decide("ok2", 1, {"f1": 0.3, "ms": 2.5})
    assert scheduler.decide("accurate-but-slow", 1, {"f1": 0.9, "ms": 4.0}) == "STOP", "infeasible: behind every feasible trial"
