"""Ray Tune's OptunaSearch, given the sweep's objective, its constraints and earlier trials.

Three things Ray's ``OptunaSearch`` does not do on its own:

- **constraints**: before a finished trial is told to the study, each constraint's violation
  (``Constraint.violation``, <= 0 when met) is set with ``Trial.set_constraint``, which Optuna 5's
  TPE, NSGA-II and GP samplers read to prefer feasible regions;
- **prior trials** (a warm start, or the earlier trials of a sweep given ``--more``): added to the
  study as finished trials with every objective value (``Study.add_trial``), so the sampler
  models them before it proposes anything;
- several objectives, with their directions, from one :class:`~finesweep.objective.Objective`;
- **failed trials** (out of memory, most often): Ray tells the study ``FAIL``, which Optuna's
  samplers skip, so TPE would keep proposing the neighbourhood of a batch size that does not fit.
  Here a failed trial is told as ``PRUNED`` with the constraint :data:`FAILED` violated (1.0):
  TPE ranks infeasible trials below every feasible one (``optuna/samplers/_tpe/sampler.py``,
  ``_split_trials``), so their neighbourhood lands in its "bad" density.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ray.tune.search.optuna import OptunaSearch

from finesweep.objective import Objective

_UNMET = 1e12  # the violation of a constraint whose metric the trial never reported
FAILED = "finesweep: the trial failed"  # the constraint a failed trial violates (by 1.0)


@dataclass(frozen=True)
class PriorTrial:
    """A finished trial the searcher starts from: its sampled values and final metrics."""

    source: str  # "<sweep>/<trial id>", for the console and the study's user attributes
    params: dict[str, Any]
    metrics: Mapping[str, float] = field(default_factory=dict)


def constraint_values(objective: Objective, metrics: Mapping[str, Any]) -> dict[str, float]:
    """Each constraint's violation keyed by its text, as Optuna stores constraints."""
    values = {}
    for constraint in objective.constraints:
        value = metrics.get(constraint.metric)
        number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        values[constraint.text] = min(constraint.violation(number), _UNMET)
    return values


class StudySearch(OptunaSearch):
    """``OptunaSearch`` over the sweep's objective, its constraints and prior trials."""

    def __init__(self, space: dict[str, Any], objective: Objective, sampler: Any, use_constraints: bool,
                 priors: tuple[PriorTrial, ...] = ()) -> None:  # fmt: skip
        metric: Any = objective.metrics if objective.multi else objective.primary.metric
        mode: Any = objective.modes if objective.multi else objective.primary.mode
        super().__init__(space=space, metric=metric, mode=mode, sampler=sampler)
        self.objective = objective
        self.use_constraints = use_constraints and bool(objective.constraints)
        self.priors_added = self._add_priors(list(priors))

    def _add_priors(self, priors: list[PriorTrial]) -> int:
        """Add every prior with all objective values as a COMPLETE trial; return how many."""
        import optuna

        added = 0
        for prior in priors:
            values = self.objective.values(prior.metrics)
            if values is None:
                continue
            system_attrs = {}
            if self.use_constraints:
                system_attrs = {f"constraints:{key}": v for key, v in constraint_values(self.objective, prior.metrics).items()}
            self._ot_study.add_trial(optuna.trial.create_trial(
                state=optuna.trial.TrialState.COMPLETE, params=dict(prior.params), distributions=self._space,
                values=list(values), system_attrs=system_attrs, user_attrs={"finesweep_prior": prior.source},
            ))  # fmt: skip
            added += 1
        return added

    def add_prior(self, params: dict[str, Any], metrics: Mapping[str, Any]) -> None:
        """Add one finished point the sampler did not propose (a point UniqueConfigurations chose)."""
        self._add_priors([PriorTrial("this sweep", params, dict(metrics))])

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Record the trial's constraint violations, then tell the study as Ray does; a failed
        trial (``error`` and no result) is told as infeasible (see the module's docstring)."""
        ot_trial = self._ot_trials.get(trial_id)
        if error and not result and ot_trial is not None and trial_id not in self._completed_trials:
            self._tell_infeasible(trial_id, ot_trial)
            return
        if self.use_constraints and result and ot_trial is not None and trial_id not in self._completed_trials:
            for key, value in constraint_values(self.objective, result).items():
                if not math.isnan(value):
                    ot_trial.set_constraint(key, value)
        super().on_trial_complete(trial_id, result=result, error=error)

    def _tell_infeasible(self, trial_id: str, ot_trial: Any) -> None:
        import optuna

        ot_trial.set_constraint(FAILED, 1.0)
        self._ot_study.tell(ot_trial, None, state=optuna.trial.TrialState.PRUNED)
        self._completed_trials.add(trial_id)

    @property
    def study(self) -> Any:
        """The Optuna study (tests read the trials the sampler was given)."""
        return self._ot_study
