"""A simulated-time replay of finesweep's search: its real searchers and schedulers, driven through
the calls Ray Tune makes, over a recorded learning-curve table, with no Ray cluster and no MLflow.

This follows Syne Tune's simulator backend (Salinas, Seeger, Klein et al., "Syne Tune: a library
for large scale hyperparameter tuning and reproducible research", AutoML-Conf 2022): an event
queue ordered by simulated time, W workers (the concurrency), and each trial's epoch k taking the
recorded seconds of epoch k of its curve, so that which trials run side by side, which results a
searcher has seen when it proposes, and which trials a rung holds when ASHA decides are as in a
real sweep of that concurrency. A sweep of hundreds of trials costs a second or two, not hours.

The searcher and scheduler are built exactly as a sweep builds them
(``finesweep.tuning.search.build.build_search`` / ``build_scheduler`` from a loaded job file, wrapped
in ``Budgeted`` when the job sets a budget, then in Ray's ``ConcurrencyLimiter`` as ``tune.run``
does). The calls follow Ray Tune 2.60's ``TuneController``: ``scheduler.on_trial_add`` when a
trial is created; per reported epoch ``scheduler.on_trial_result`` and, unless it says STOP,
``searcher.on_trial_result``; when a trial ends (STOP, its last epoch, or the budget)
``scheduler.on_trial_complete`` and ``searcher.on_trial_complete`` with its last result. The
trial-epoch budget is the real ``BudgetLedger``, held in this process instead of a Ray actor.

A configuration off the table gets the curve of its nearest recorded configuration
(``CurveTable.nearest``, as the replay runtime does); a grid over the table's own configurations
names them by a ``config`` parameter instead.
"""

from __future__ import annotations

import dataclasses
import heapq
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finesweep.tuning.execution.replay import Curve, CurveTable

CONFIG_PARAM = "config"  # the one parameter of a grid over the table's own configurations
SWEEP_NAME = "replay-sim"  # the budget ledger's name; nothing outside this process sees it


@dataclass(frozen=True)
class SweepSetup:
    """One simulated sweep: the job file, its ``--set`` overrides, the concurrency and the budget."""

    job: Path
    overrides: tuple[str, ...]
    concurrency: int  # W: trials running at once (simulated workers)
    budget: int  # trial-epochs the sweep may spend (search.budget.trial_epochs)
    priors: tuple[Any, ...] = ()  # finesweep PriorTrials: a warm start
    grid_over_table: bool = False  # grid search over the table's configurations (the space is not finite)
    num_samples: int | None = None  # trials at most; None: one per budgeted trial-epoch (never the limit)


@dataclass
class SimTrial:
    """The small trial object Tune's schedulers read: ``trial_id`` (and ``status`` for show)."""

    trial_id: str
    config: dict[str, Any]
    curve: Curve
    distance: float  # to the nearest recorded configuration (0: on the table)
    started_s: float  # simulated seconds
    epoch: int = 0  # epochs reported so far
    status: str = "RUNNING"
    last_result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    """One reported epoch: when (in trial-epochs spent and simulated seconds), which trial, its metrics."""

    trial_epochs: int  # trial-epochs spent, this one included
    time_s: float
    trial: str
    epoch: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class TrialRecord:
    """A finished trial as the sweep records it: how far it ran and how it ended."""

    trial_id: str
    config: dict[str, Any]
    curve: int  # the recorded configuration it replayed
    epochs: int
    status: str  # completed (last epoch or budget) or pruned (stopped by ASHA)
    started_s: float
    ended_s: float
    metrics: dict[str, float]  # its last report's


@dataclass
class SweepTrace:
    """What one simulated sweep did, in order."""

    reports: list[Report] = field(default_factory=list)
    trials: list[TrialRecord] = field(default_factory=list)
    suggest_s: list[float] = field(default_factory=list)  # wall seconds of each searcher.suggest call that proposed
    max_running: int = 0

    @property
    def trial_epochs(self) -> int:
        """Trial-epochs spent in all (the budget plus the epochs running trials finished after it)."""
        return len(self.reports)

    def best_by_epochs(self, metric: str, mode: str, budget: int) -> list[float | None]:
        """The anytime curve: entry e - 1 holds the best ``metric`` reported within e trial-epochs
        (None before the first report), for e = 1 .. ``budget``."""
        curve: list[float | None] = []
        best: float | None = None
        reports = iter(self.reports)
        report = next(reports, None)
        for spent in range(1, budget + 1):
            while report is not None and report.trial_epochs <= spent:
                value = report.metrics.get(metric)
                if value is not None and (best is None or (value > best if mode == "max" else value < best)):
                    best = value
                report = next(reports, None)
            curve.append(best)
        return curve


class LocalLedger:
    """Stands in for the ledger actor's client (``budget._LedgerClient.call``): the real
    ``BudgetLedger``, called in this process."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger

    def call(self, method: str) -> Any:
        """What the actor's method returns."""
        return getattr(self.ledger, method)()


@dataclass
class _Parts:
    """The real objects one sweep drives."""

    searcher: Any  # ConcurrencyLimiter(Budgeted(UniqueConfigurations?(StudySearch)))
    scheduler: Any
    ledger: Any  # BudgetLedger
    num_samples: int
    max_epochs: int
    study: Any


def load(setup: SweepSetup, table: CurveTable) -> Any:
    """The LoadedJob of ``setup``; for a grid over the table, its space becomes one ``config``
    choice over the table's configuration ids (the recorded space itself is continuous)."""
    from finesweep.config.loader import load_job

    overrides = [*setup.overrides, f"search.budget.trial_epochs={setup.budget}"]
    if not setup.grid_over_table:
        return load_job(setup.job, overrides=overrides)
    from finesweep.config.space import Choice

    loaded = load_job(setup.job, overrides=[o for o in overrides if not o.startswith("search.algorithm=")])
    search = loaded.job.search.model_copy(update={"algorithm": "grid"})
    job = loaded.job.model_copy(update={"search": search})
    space = {CONFIG_PARAM: Choice(values=[curve.config for curve in table.curves], distribution="choice")}
    return dataclasses.replace(loaded, job=job, space=space)


def build(setup: SweepSetup, table: CurveTable) -> _Parts:
    """Searcher and scheduler as ``tuning._tuner.tuner_parts`` and ``tune.run`` build them."""
    from ray.tune.search import ConcurrencyLimiter

    from finesweep.tuning.search.budget import Budget, BudgetLedger, Budgeted
    from finesweep.tuning.search.build import SearchRequest, build_scheduler, build_search, default_request

    loaded = load(setup, table)
    # a grid plans every point once; otherwise one trial per budgeted trial-epoch, so the budget ends the sweep
    trials = default_request(loaded).num_samples if setup.grid_over_table else setup.num_samples or setup.budget
    request = SearchRequest(trials, tuple(setup.priors))
    plan = build_search(loaded, request)
    ledger = BudgetLedger(Budget(trial_epochs=setup.budget), time.time())
    budgeted = Budgeted(plan.search_alg, SWEEP_NAME)
    budgeted.ledger = LocalLedger(ledger)
    scheduler, _ = build_scheduler(loaded)
    objective = loaded.objective
    # Tune gives the scheduler its one metric; several objectives are MO-ASHA's own (tuning/_tuner.py)
    metric, mode = (None, None) if objective.multi else (objective.primary.metric, objective.primary.mode)
    scheduler.set_search_properties(metric, mode)
    return _Parts(ConcurrencyLimiter(budgeted, max_concurrent=setup.concurrency), scheduler, ledger,
                  plan.num_samples, loaded.max_epochs(), plan.study)  # fmt: skip


class Simulator:
    """One sweep on the simulated clock (Syne Tune's simulator backend: a time-ordered event queue)."""

    def __init__(self, setup: SweepSetup, table: CurveTable) -> None:
        self.setup, self.table = setup, table
        self.parts = build(setup, table)
        self.trace = SweepTrace()
        self.running: dict[str, SimTrial] = {}
        self.events: list[tuple[float, int, str]] = []  # (simulated end of an epoch, order, trial id)
        self.created = 0
        self.order = 0  # breaks ties between epochs ending at the same simulated second: first queued first
        self.finished = False  # the searcher said FINISHED, or num_samples trials were created

    def run(self) -> SweepTrace:
        """Fill the workers, then process epoch ends in simulated-time order until no trial runs."""
        self._fill(0.0)
        while self.events:
            now, _, trial_id = heapq.heappop(self.events)
            self._epoch_done(self.running[trial_id], now)
            self._fill(now)
        return self.trace

    def _fill(self, now: float) -> None:
        """Start trials on free workers while the searcher proposes."""
        while not self.finished and len(self.running) < self.setup.concurrency:
            if self.created >= self.parts.num_samples:  # SearchGenerator: at most num_samples trials
                self.finished = True
                return
            trial_id = f"t{self.created:05d}"
            started = time.perf_counter()
            config = self.parts.searcher.suggest(trial_id)
            if config is None:  # nothing to propose now (a concurrency limit): wait for the next event
                return
            from ray.tune.search import Searcher

            if config == Searcher.FINISHED:
                self.finished = True
                return
            self.trace.suggest_s.append(time.perf_counter() - started)
            self._start(trial_id, config, now)

    def _start(self, trial_id: str, config: dict[str, Any], now: float) -> None:
        """A new trial: its curve, the scheduler told, its first epoch queued."""
        curve, distance = self.curve_for(config)
        trial = SimTrial(trial_id, dict(config), curve, distance, now)
        self.created += 1
        self.running[trial_id] = trial
        self.trace.max_running = max(self.trace.max_running, len(self.running))
        self.parts.scheduler.on_trial_add(None, trial)
        self._queue_epoch(trial, now)

    def curve_for(self, config: dict[str, Any]) -> tuple[Curve, float]:
        """The recorded curve a proposal replays: by id on a table grid, else the nearest."""
        if CONFIG_PARAM in config and self.setup.grid_over_table:
            return next(c for c in self.table.curves if c.config == config[CONFIG_PARAM]), 0.0
        return self.table.nearest(config)

    def _queue_epoch(self, trial: SimTrial, now: float) -> None:
        """Its next epoch ends after that epoch's recorded seconds."""
        self.order += 1
        heapq.heappush(self.events, (now + trial.curve.seconds[trial.epoch], self.order, trial.trial_id))

    def _epoch_done(self, trial: SimTrial, now: float) -> None:
        """Report one epoch, as ``tuning.execution.replay.run_replay_trial`` does, and act on the decisions."""
        from ray.tune.schedulers import TrialScheduler

        from finesweep.tuning.execution.replay import replayed_metrics

        trial.epoch += 1
        spent = bool(self.parts.ledger.add_epoch())  # BudgetSignal.after_epoch
        last = trial.epoch >= min(self.parts.max_epochs, len(trial.curve.epochs)) or spent
        recorded = sum(trial.curve.seconds[: trial.epoch])
        result = replayed_metrics(trial.curve, trial.epoch, trial.distance, recorded, last)
        result.update(ended_by_budget=float(spent), final=float(last), training_iteration=trial.epoch,
                      trial_id=trial.trial_id, done=last)  # fmt: skip
        trial.last_result = result
        self.trace.reports.append(Report(self.parts.ledger.epochs_spent(), now, trial.trial_id, trial.epoch,
                                         {k: v for k, v in result.items() if isinstance(v, float)}))  # fmt: skip
        decision = self.parts.scheduler.on_trial_result(None, trial, result)
        if decision != TrialScheduler.STOP:
            self.parts.searcher.on_trial_result(trial.trial_id, result)
        if decision == TrialScheduler.STOP or last:
            pruned = decision == TrialScheduler.STOP and not last
            self._end(trial, now, "pruned" if pruned else "completed")
        else:
            self._queue_epoch(trial, now)

    def _end(self, trial: SimTrial, now: float, status: str) -> None:
        """Tune's ``stop_trial`` for a running trial: scheduler, then searcher, told with its last result."""
        trial.status = status
        self.parts.scheduler.on_trial_complete(None, trial, trial.last_result)
        self.parts.searcher.on_trial_complete(trial.trial_id, result=trial.last_result)
        del self.running[trial.trial_id]
        metrics = {k: v for k, v in trial.last_result.items() if isinstance(v, float)}
        self.trace.trials.append(TrialRecord(trial.trial_id, trial.config, trial.curve.config, trial.epoch, status,
                                             trial.started_s, now, metrics))  # fmt: skip


def simulate(setup: SweepSetup, table: CurveTable, seed: int = 0) -> SweepTrace:
    """Run one simulated sweep. ``seed`` seeds numpy's global generator, which Ray's ASHA draws its
    bracket from (one bracket: no effect) and some samplers touch."""
    import numpy as np

    np.random.seed(seed)
    return Simulator(setup, table).run()
