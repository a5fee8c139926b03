"""The Tune searcher and scheduler of a sweep, built from the registry's searcher and the objective.

Every searcher is an Optuna sampler inside :class:`~finesweep.tuning.search.study_search.StudySearch`; on a
finite space :class:`~finesweep.tuning.search.unique.UniqueConfigurations` keeps it from running a
configuration twice, and a budget wraps it last (:class:`~finesweep.tuning.search.budget.Budgeted`).
The scheduler is Ray's ASHA for one objective and :class:`~finesweep.tuning.schedulers.pareto_asha.ParetoASHA`
for several; both stop trials on the explicit ``epoch`` metric.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from finesweep.config.loader import LoadedJob
from finesweep.config.search import planned_trials
from finesweep.searchers.base import SamplerInputs
from finesweep.tuning.search.space import grid_points, to_optuna
from finesweep.tuning.search.study_search import PriorTrial, StudySearch


@dataclass
class SearchPlan:
    """What the Tuner needs: a searcher (None = Tune's variant generator), param_space, num_samples."""

    search_alg: Any
    param_space: dict[str, Any]
    num_samples: int
    description: str
    study: Any = None  # the StudySearch inside the wrappers (tests read its prior trials)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SearchRequest:
    """How this run of the sweep searches: trials to run, prior trials, and the seed offset that
    keeps an extension (``--more``) from replaying the original's random start."""

    num_samples: int
    priors: tuple[PriorTrial, ...] = ()
    seed_offset: int = 0


def default_request(loaded: LoadedJob) -> SearchRequest:
    """A new sweep: its planned trials, no priors."""
    return SearchRequest(planned_trials(loaded))


def build_search(loaded: LoadedJob, request: SearchRequest) -> SearchPlan:
    """The searcher for ``search.algorithm``, seeded so a sweep's configurations are reproducible."""
    from finesweep.searchers import get_searcher

    search, space = loaded.job.search, loaded.space
    if not space:
        text = f"{request.num_samples} trials of the fixed train section"
        return SearchPlan(None, {}, request.num_samples, text)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    searcher = get_searcher(search.algorithm)
    options = searcher.options_model.model_validate(search.options)
    finite = _finite_points(space)
    inputs = SamplerInputs(loaded.objective, search.seed + request.seed_offset, request.num_samples, finite)
    study = StudySearch(to_optuna(space), loaded.objective, searcher.sampler(options, inputs), searcher.uses_constraints,
                        request.priors)  # fmt: skip
    description = f"{searcher.describe(options, inputs)}, {request.num_samples} trials"
    search_alg: Any = study
    if finite is not None:  # a configuration already run (here or among the priors) is never proposed again
        from finesweep.config.space import grid_size
        from finesweep.tuning.search.unique import UniqueConfigurations

        search_alg = UniqueConfigurations(study, finite, search.seed, [p.params for p in request.priors])
        size = grid_size(space) or 0
        if not searcher.finite_only:
            limit = f", so at most {size} trials" if request.num_samples > size else ""
            description += f"; a finite space of {size} configurations, none run twice{limit}"
    notes = []
    if loaded.objective.constraints and not searcher.uses_constraints:
        notes.append(f"{search.algorithm} samples without the constraints; trials that break them are still marked infeasible")
    return SearchPlan(search_alg, {}, request.num_samples, description, study, notes)


def _finite_points(space: dict[str, Any]) -> dict[str, list[Any]] | None:
    from finesweep.config.space import grid_size

    return grid_points(space) if grid_size(space) is not None else None


def build_scheduler(loaded: LoadedJob) -> tuple[Any, str]:
    """ASHA on the explicit ``epoch`` metric (Pareto-ranked rungs for several objectives), or FIFO."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    config, objective = loaded.job.scheduler, loaded.objective
    if config.type == "none":
        return FIFOScheduler(), "no early stopping (FIFO)"
    max_t = config.max_t or loaded.max_epochs()
    settings = f"grace {config.grace_period}, max_t {max_t}, reduction {config.reduction_factor:g}"
    if objective.multi:
        from finesweep.tuning.schedulers.pareto_asha import ParetoASHA

        scheduler = ParetoASHA(objective, max_t, config.grace_period, config.reduction_factor)
        return scheduler, f"MO-ASHA on epoch, rungs ranked by Pareto front ({settings})"
    # its metric and mode come from TuneConfig (the objective's primary goal)
    scheduler = ASHAScheduler(
        time_attr="epoch", max_t=max_t, grace_period=config.grace_period, reduction_factor=config.reduction_factor
    )
    return scheduler, f"ASHA on epoch ({settings})"
