"""The search section's checks across sections: the objective against the task's metrics, the
searcher against the objective and the space, and the searcher's own options.

Each problem is one line naming the file and the dotted key, as everywhere in config validation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from finesweep.config.problems import format_problems
from finesweep.config.space import grid_size, value_count
from finesweep.objective import Objective, parse_constraint

if TYPE_CHECKING:
    from finesweep.config.loader import LoadedJob
    from finesweep.config.schema import JobConfig

MAX_GRID_POINTS = 100_000  # like search.num_samples: beyond this a grid never finishes anyway


def objective_items(job: "JobConfig", default_metric: str) -> list[tuple[str, str, str | None]]:
    """``(dotted key, metric, mode or None)`` of every goal the job names, or its task's default."""
    search = job.search
    if search.objectives:
        return [(f"search.objectives[{i}].metric", item.metric, item.mode) for i, item in enumerate(search.objectives)]
    return [("search.metric", search.metric or default_metric, search.mode)]


def build_objective(job: "JobConfig", task: Any, source: str, problems: list[str]) -> Objective | None:
    """The job's :class:`Objective`, each direction from the task's declaration; None (problems
    appended) when a metric is unknown, contradicts its direction or is a held-out figure."""
    goals = []
    for key, metric, mode in objective_items(job, task.default_metric):
        problem = task.check_metric(metric, mode) or _held_out_problem(task, metric, "optimise")
        if problem:
            problems.append(f"{source}: {key}: {problem}")
        else:
            goals.append(task.metrics.goal(metric))
    constraints = []
    for index, text in enumerate(job.search.constraints):
        constraint = parse_constraint(text)  # the schema has checked the grammar
        problem = task.check_metric(constraint.metric, None) or _held_out_problem(task, constraint.metric, "constrain")
        if problem:
            problems.append(f"{source}: search.constraints[{index}]: {problem}")
        else:
            constraints.append(constraint)
    if len(goals) != len(objective_items(job, task.default_metric)) or len(constraints) != len(job.search.constraints):
        return None
    return Objective(tuple(goals), tuple(constraints))


def _held_out_problem(task: Any, metric: str, verb: str) -> str | None:
    if not task.metrics.is_held_out(metric):
        return None
    return (f"{metric} is a held-out (test split) figure, which decides promotion only; {verb} its validation "
            f"counterpart val_{metric.removeprefix('test_')} instead")  # fmt: skip


def check_searcher(loaded: "LoadedJob", source: str, problems: list[str]) -> None:
    """The searcher can optimise the objective over the space, its options are valid, and what it
    is asked to do (a warm start, a grid) makes sense."""
    from finesweep.searchers import get_searcher

    search = loaded.job.search
    searcher = get_searcher(search.algorithm)
    try:
        searcher.options_model.model_validate(search.options)
    except ValidationError as exc:
        problems.extend(format_problems(source, "search.options", exc, searcher.options_model))
    continuous = [name for name, spec in loaded.space.items() if value_count(spec) is None]
    problems.extend(f"{source}: search.algorithm: {line}" for line in searcher.problems(loaded.objective, continuous))
    if search.warm_start and not searcher.uses_history:
        problems.append(
            f"{source}: search.warm_start: {search.algorithm} does not learn from earlier trials, so a warm start "
            "would change nothing; use tpe, motpe, gp, cmaes or nsga2"
        )
    if searcher.finite_only and not continuous:
        _check_grid(loaded, source, problems)


def _check_grid(loaded: "LoadedJob", source: str, problems: list[str]) -> None:
    size = grid_size(loaded.space)
    if not loaded.space:
        problems.append(f"{source}: search.space: grid search needs at least one parameter (got an empty space)")
    elif size is not None and size > MAX_GRID_POINTS:
        axes = " x ".join(f"{name} {value_count(spec)}" for name, spec in loaded.space.items())
        problems.append(
            f"{source}: search.space: a grid may hold at most {MAX_GRID_POINTS} points, like search.num_samples "
            f"(got {size:.3g} points: {axes}); use tpe or random search, or fewer values"
        )


def planned_trials(loaded: "LoadedJob") -> int:
    """Trials the sweep plans: every grid point once for grid search, else ``num_samples``."""
    from finesweep.searchers import get_searcher

    if get_searcher(loaded.job.search.algorithm).finite_only:
        return grid_size(loaded.space) or 1
    return loaded.job.search.num_samples
