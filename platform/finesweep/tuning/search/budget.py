"""Budgets in time or compute: ``search.budget: {wall: 2h, trial_epochs: 60}``.

One small Ray actor, the :class:`BudgetLedger`, holds what this run of the sweep has spent. Each
trial adds its epochs there as it finishes them (rank 0 of a data-parallel trial), and learns in
the same call whether the budget is now spent; if so, that epoch becomes the trial's last, with
its test figures, checkpoint and model, as if it had reached its planned end. The searcher is
wrapped by :class:`Budgeted`, which proposes no new trial once the budget is spent, so Tune ends
the sweep when the running trials have finished. Trials that are mid-epoch when the budget runs
out finish that epoch: a trial-epochs budget can be exceeded by at most one epoch per other
trial running at that moment.

Budgets count from each start of the command: a ``--resume`` or ``--more`` run gets the whole
budget again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ray.tune.search import Searcher

WALL = "budget.wall"
TRIAL_EPOCHS = "budget.trial_epochs"


@dataclass(frozen=True)
class Budget:
    """What a run of the sweep may spend: seconds of wall-clock time, epochs over all trials."""

    wall_s: float | None = None
    trial_epochs: int | None = None

    def describe(self) -> str:
        """``budget: 2 h wall, 60 trial-epochs``."""
        parts = []
        if self.wall_s is not None:
            parts.append(f"{self.wall_s / 3600:.3g} h wall" if self.wall_s >= 3600 else f"{self.wall_s:.0f} s wall")
        if self.trial_epochs is not None:
            parts.append(f"{self.trial_epochs} trial-epochs")
        return "budget: " + ", ".join(parts)


class BudgetLedger:
    """The spent budget (a Ray actor): epochs counted as trials report them, time since the start."""

    def __init__(self, budget: Budget, started: float) -> None:
        self.budget = budget
        self.started = started  # time.time() when this run of the sweep started
        self.epochs = 0

    def add_epoch(self) -> str | None:
        """Count one finished trial-epoch; return why the budget is spent now, or None."""
        self.epochs += 1
        return self.spent()

    def spent(self) -> str | None:
        """``budget.trial_epochs`` or ``budget.wall`` once that budget is used up, else None."""
        if self.budget.trial_epochs is not None and self.epochs >= self.budget.trial_epochs:
            return TRIAL_EPOCHS
        if self.budget.wall_s is not None and time.time() - self.started >= self.budget.wall_s:
            return WALL
        return None

    def epochs_spent(self) -> int:
        """Trial-epochs counted so far."""
        return self.epochs


def ledger_name(sweep: str) -> str:
    """The ledger's Ray actor name: trials and a restored searcher find it by name, so a resumed
    sweep's new ledger replaces the old one without touching Tune's pickled state."""
    return f"finesweep-budget-{sweep}"


def start_ledger(budget: Budget, sweep: str, started: float) -> Any:
    """This run's ledger actor (no CPU: it only counts); :func:`stop_ledger` ends it."""
    import ray

    actor = ray.remote(num_cpus=0)(BudgetLedger).options(name=ledger_name(sweep))
    return actor.remote(budget, started)


def stop_ledger(handle: Any) -> None:
    """End the ledger actor (nothing of a sweep stays behind on the cluster)."""
    import ray

    ray.kill(handle, no_restart=True)


class _LedgerClient:
    """Finds the ledger by name on first use; never pickles a handle (a handle dies with its driver)."""

    def __init__(self, sweep: str) -> None:
        self.sweep = sweep
        self._handle: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"sweep": self.sweep, "_handle": None}

    def call(self, method: str) -> Any:
        import ray

        if self._handle is None:
            try:
                self._handle = ray.get_actor(ledger_name(self.sweep))
            except ValueError:  # no ledger: a sweep restored from a job that no longer sets a budget
                return None
        return ray.get(getattr(self._handle, method).remote())


class BudgetSignal(_LedgerClient):
    """What a trial holds (in its spec; ``None`` there means no budget)."""

    def after_epoch(self) -> str | None:
        """Count this trial's finished epoch; return the budget that is spent now, or None."""
        return self.call("add_epoch")


class Budgeted(Searcher):
    """Forwards to ``searcher`` until the budget is spent, then proposes nothing more (FINISHED)."""

    def __init__(self, searcher: Searcher, sweep: str) -> None:
        super().__init__(metric=searcher.metric, mode=searcher.mode)
        self.searcher = searcher
        self.ledger = _LedgerClient(sweep)
        self.ended_by: str | None = None

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        """Forwarded."""
        return self.searcher.set_search_properties(metric, mode, config, **spec)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        """The searcher's proposal, or FINISHED once the ledger says the budget is spent."""
        self.ended_by = self.ended_by or self.ledger.call("spent")
        if self.ended_by:
            return Searcher.FINISHED
        return self.searcher.suggest(trial_id)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """Forwarded."""
        self.searcher.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Forwarded."""
        self.searcher.on_trial_complete(trial_id, result=result, error=error)

    def save(self, checkpoint_path: str) -> None:
        """The inner searcher's state (Tune calls this into the sweep's folder; ``--resume`` reads
        it back). The budget itself does not carry over: a resumed run gets the whole budget."""
        self.searcher.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        """The inner searcher's state, as :meth:`save` wrote it."""
        self.searcher.restore(checkpoint_path)
        self.ended_by = None

    def get_state(self) -> dict[str, Any]:
        """Nothing carries over: a resumed run gets the whole budget again."""
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """A restored sweep starts with an unspent budget."""
        self.ended_by = None
