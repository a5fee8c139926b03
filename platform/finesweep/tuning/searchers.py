"""Search algorithms: Optuna TPE and random sampling through OptunaSearch, full grids through Tune."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from finesweep.config.loader import LoadedJob
from finesweep.tuning.space import grid_points, grid_size, to_optuna


@dataclass
class SearchPlan:
    """What the Tuner needs: a searcher (None = Tune's variant generator), param_space, num_samples."""

    search_alg: Any
    param_space: dict[str, Any]
    num_samples: int
    description: str


def tpe_startup_trials(num_samples: int) -> int:
    """Random trials before TPE models the space: a quarter of the budget, between 2 and 10."""
    return max(2, min(10, num_samples // 4))


def build_search(loaded: LoadedJob) -> SearchPlan:
    """The searcher for ``search.algorithm``; seeded so a sweep's configurations are reproducible."""
    from ray import tune

    search = loaded.job.search
    space = loaded.space
    if search.algorithm == "grid":
        points = grid_points(space)
        size = grid_size(space)
        param_space = {name: tune.grid_search(values) for name, values in points.items()}
        return SearchPlan(None, param_space, 1, f"grid over {size} points, each run once")
    if not space:
        return SearchPlan(None, {}, search.num_samples, f"{search.num_samples} trials of the fixed train section")
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    if search.algorithm == "tpe":
        startup = tpe_startup_trials(search.num_samples)
        sampler = optuna.samplers.TPESampler(seed=search.seed, n_startup_trials=startup)
        description = f"Optuna TPE (seed {search.seed}, {startup} random start-up trials), {search.num_samples} trials"
    else:
        sampler = optuna.samplers.RandomSampler(seed=search.seed)
        description = f"Optuna random sampling (seed {search.seed}), {search.num_samples} trials"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    searcher = OptunaSearch(space=to_optuna(space), metric=search.metric, mode=search.mode, sampler=sampler)
    from finesweep.config.space import grid_size as finite_size

    size = finite_size(space)
    if size is not None:  # a finite space: a configuration already run is never proposed again
        from finesweep.tuning.unique import UniqueConfigurations

        searcher = UniqueConfigurations(searcher, grid_points(space), search.seed)
        limit = f", so at most {size} trials" if search.num_samples > size else ""
        description += f"; a finite space of {size} configurations, none run twice{limit}"
    return SearchPlan(searcher, {}, search.num_samples, description)


def build_scheduler(loaded: LoadedJob) -> tuple[Any, str]:
    """ASHA on the explicit ``epoch`` metric, or FIFO (no early stopping across trials)."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    config = loaded.job.scheduler
    if config.type == "none":
        return FIFOScheduler(), "no early stopping (FIFO)"
    max_t = config.max_t or loaded.max_epochs()
    scheduler = ASHAScheduler(
        time_attr="epoch", max_t=max_t, grace_period=config.grace_period, reduction_factor=config.reduction_factor
    )
    return scheduler, f"ASHA on epoch (grace {config.grace_period}, max_t {max_t}, reduction {config.reduction_factor:g})"
