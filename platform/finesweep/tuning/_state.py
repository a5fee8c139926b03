"""What one run of a sweep carries from step to step: a frozen object per phase (setup, then
inputs), each made by one step and read by the later ones."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from finesweep.config.loader import LoadedJob
from finesweep.objective import Objective
from finesweep.settings import Settings

if TYPE_CHECKING:
    from finesweep.data.pairs import PairData
    from finesweep.data.prepare import PreparedData
    from finesweep.models.resolve import ResolvedModel
    from finesweep.tasks.base import Task
    from finesweep.tracking.runs import SweepTracker
    from finesweep.tuning.commands.reproduce import Reproduction
    from finesweep.tuning.search.warm_start import WarmStart


@dataclass(frozen=True)
class SweepOptions:
    """How ``finesweep sweep`` was asked to run, beyond the job file.

    ``more``: trials to add to a finished sweep (with ``resume``); ``warm_start``: sweeps to start
    from, added to the job's ``search.warm_start``; ``verbose`` overrides the job's (0: summary and
    failures; 1: a line per trial event; 2: Ray's trial table and the workers' output; 3: Tune's full
    results); ``reproduces`` (a :class:`finesweep.tuning.commands.reproduce.Reproduction`) makes this sweep
    the re-run of one trial.
    """

    resume: bool = False
    more: int = 0
    warm_start: tuple[str, ...] = ()
    verbose: int | None = None
    show_tracebacks: bool = False
    reproduces: Reproduction | None = None


@dataclass(frozen=True)
class Console:
    """How much a sweep prints: ``level`` as the job's ``verbose``, and failed trials' tracebacks."""

    level: int = 1
    show_tracebacks: bool = False

    @property
    def tune_verbosity(self) -> int:
        """Tune's own ``verbose``: silent below level 2, its trial table at 2, full results at 3."""
        return max(0, self.level - 1)


@dataclass(frozen=True)
class SweepSetup:
    """What the first step (:func:`finesweep.tuning._prepare.prepare_sweep`) makes, after every
    check that needs neither data nor Ray: the job, the sweep's name and record, where its results
    go, and how it runs."""

    loaded: LoadedJob
    task: Task
    name: str
    options: SweepOptions
    tracking_uri: str
    tracker: SweepTracker
    results: Path | str  # <storage_path>/<sweep>: a local folder or an object-store URI
    console: Console
    settings: Settings  # tracking, storage, Ray address, ... (the entry point's)
    started: float  # wall clock (s) when this run began
    commit: str | None  # the git commit of the code that runs; None outside a git checkout
    extension: int  # 1, 2, ... for the runs of `--more` on this sweep; 0 for the first run


@dataclass(frozen=True)
class SweepInputs:
    """What the second step (:func:`finesweep.tuning._inputs.read_inputs`) reads before Ray starts:
    the prepared data, the resolved base model, the baselines measured on the driver (none on
    ``--resume``: they were logged when the sweep started) and the trials the searcher starts from."""

    data: PreparedData | PairData
    base: ResolvedModel
    baseline: Mapping[str, float]
    prior: WarmStart


@dataclass(frozen=True)
class SweepState:
    """A sweep once set up and its inputs read: what the later steps (the tuner, the parent run,
    the trials' record, the finish) take. Each phase's fields read through."""

    setup: SweepSetup
    inputs: SweepInputs

    loaded = property(lambda self: self.setup.loaded)
    task = property(lambda self: self.setup.task)
    name = property(lambda self: self.setup.name)
    options = property(lambda self: self.setup.options)
    tracking_uri = property(lambda self: self.setup.tracking_uri)
    tracker = property(lambda self: self.setup.tracker)
    results = property(lambda self: self.setup.results)
    console = property(lambda self: self.setup.console)
    settings = property(lambda self: self.setup.settings)
    started = property(lambda self: self.setup.started)
    commit = property(lambda self: self.setup.commit)
    extension = property(lambda self: self.setup.extension)
    data = property(lambda self: self.inputs.data)
    base = property(lambda self: self.inputs.base)
    baseline = property(lambda self: self.inputs.baseline)
    prior = property(lambda self: self.inputs.prior)

    @property
    def objective(self) -> Objective:
        """The job's objective."""
        return self.loaded.objective

    @property
    def warm_sources(self) -> list[str]:
        """The sweeps a warm start reads: the job's, then the command line's."""
        return warm_sources(self.setup)


def warm_sources(setup: SweepSetup) -> list[str]:
    """The sweeps a warm start reads: the job's, then the command line's."""
    return list(dict.fromkeys([*setup.loaded.job.search.warm_start, *setup.options.warm_start]))
