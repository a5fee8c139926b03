"""MO-ASHA: asynchronous successive halving whose rungs rank trials by Pareto front.

Follows Schmucker, Donini, Perrone and Archambeau, "Multi-objective multi-fidelity
hyperparameter optimization with application to fairness" (arXiv 2106.12639), as Syne Tune's
``MOASHA`` implements it: rungs sit at ``grace_period * reduction_factor**k`` epochs; when a trial
reaches a rung, it and every trial recorded there are ordered by non-dominated sorting (crowding
distance breaks ties within a front), and the trial stops unless it lies in the top
``1 / reduction_factor`` of that order. With constraints, feasible trials are ordered before
infeasible ones (Deb's constraint domination, NSGA-II 2002). One bracket, as Ray's ASHA defaults to.
"""

from __future__ import annotations

import pickle
from typing import Any

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from finesweep.objective import Objective
from finesweep.objective.pareto import priority_order

Gains = tuple[float, ...]


class ParetoASHA(FIFOScheduler):
    """A Ray Tune scheduler for sweeps with several objectives (``time_attr``: ``epoch``)."""

    def __init__(self, objective: Objective, max_t: int, grace_period: int = 1, reduction_factor: float = 2.0,
                 time_attr: str = "epoch") -> None:  # fmt: skip
        super().__init__()
        self.objective = objective
        self.max_t = max_t
        self.reduction_factor = reduction_factor
        self.time_attr = time_attr
        milestones, level = [], float(grace_period)
        while level < max_t:  # a rung at max_t would decide nothing: every trial ends there
            milestones.append(level)
            level *= reduction_factor
        # milestone (epochs) -> trial id -> (feasible, gains) recorded when it reached that rung
        self.rungs: list[tuple[float, dict[str, tuple[bool, Gains]]]] = [(m, {}) for m in milestones]
        self.stopped = 0

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        """The objective is this scheduler's own; Tune's single metric (none here) is not needed."""
        return True

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        """STOP when the trial is outside the top 1/reduction_factor of the rung it just reached."""
        epoch = result.get(self.time_attr)
        if not isinstance(epoch, (int, float)):
            return TrialScheduler.CONTINUE
        if epoch >= self.max_t:
            return TrialScheduler.STOP
        action = self.decide(trial.trial_id, float(epoch), result)
        if action == TrialScheduler.STOP:
            self.stopped += 1
        return action

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
        """Record a finished trial at the rungs it passed (it competes with later ones there)."""
        epoch = (result or {}).get(self.time_attr)
        if isinstance(epoch, (int, float)):
            self.decide(trial.trial_id, float(epoch), result)

    def decide(self, trial_id: str, epoch: float, metrics: dict) -> str:
        """Record ``metrics`` at the highest rung ``epoch`` reaches (once per rung) and decide there."""
        gains = self.objective.gains(metrics)
        if gains is None:
            return TrialScheduler.CONTINUE
        entry = (self.objective.feasible(metrics), gains)
        for milestone, recorded in reversed(self.rungs):
            if epoch < milestone or trial_id in recorded:
                continue
            action = self._rank_action(list(recorded.values()), entry)
            recorded[trial_id] = entry
            return action
        return TrialScheduler.CONTINUE

    def _rank_action(self, recorded: list[tuple[bool, Gains]], entry: tuple[bool, Gains]) -> str:
        if not recorded:
            return TrialScheduler.CONTINUE  # the first trial at a rung has nothing to lose to
        everyone = recorded + [entry]
        order = _constrained_order(everyone)
        position = order.index(len(everyone) - 1)
        # Syne Tune's rule: the trial's rank as a share of the rung; stop beyond 1 / reduction_factor
        return TrialScheduler.STOP if position / len(everyone) > 1 / self.reduction_factor else TrialScheduler.CONTINUE

    def debug_string(self) -> str:
        """Trials recorded per rung, for Tune's status output."""
        rungs = ", ".join(f"epoch {m:g}: {len(r)}" for m, r in self.rungs)
        return f"MO-ASHA ({self.stopped} stopped; {rungs})"

    def save(self, checkpoint_path: str) -> None:
        """Pickle the rungs with the sweep's state (``--resume``)."""
        with open(checkpoint_path, "wb") as handle:
            pickle.dump(self.__dict__, handle)

    def restore(self, checkpoint_path: str) -> None:
        """Restore what :meth:`save` wrote."""
        with open(checkpoint_path, "rb") as handle:
            self.__dict__.update(pickle.load(handle))


def _constrained_order(entries: list[tuple[bool, Gains]]) -> list[int]:
    """Indices best first: feasible ones by Pareto priority, then infeasible ones the same way."""
    order = []
    for feasible in (True, False):
        members = [i for i, (ok, _) in enumerate(entries) if ok == feasible]
        order += [members[j] for j in priority_order([entries[i][1] for i in members])]
    return order
