"""The state one run of a sweep carries from step to step, as one typed object."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finesweep.config.loader import LoadedJob
from finesweep.objective import Objective
from finesweep.settings import Settings


@dataclass(frozen=True)
class SweepOptions:
    """How ``finesweep sweep`` was asked to run, beyond the job file.

    ``more``: trials to add to a finished sweep (with ``resume``); ``warm_start``: sweeps to start
    from, added to the job's ``search.warm_start``; ``verbose`` overrides the job's (0: summary and
    failures; 1: a line per trial event; 2: Ray's trial table and the workers' output; 3: Tune's full
    results); ``reproduces`` (a :class:`finesweep.tuning.reproduce.Reproduction`) makes this sweep
    the re-run of one trial.
    """

    resume: bool = False
    more: int = 0
    warm_start: tuple[str, ...] = ()
    verbose: int | None = None
    show_tracebacks: bool = False
    reproduces: Any = None


@dataclass(frozen=True)
class Console:
    """How much a sweep prints: ``level`` as the job's ``verbose``, and failed trials' tracebacks."""

    level: int = 1
    show_tracebacks: bool = False

    @property
    def tune_verbosity(self) -> int:
        """Tune's own ``verbose``: silent below level 2, its trial table at 2, full results at 3."""
        return max(0, self.level - 1)


@dataclass
class SweepState:
    """Everything the steps of :func:`finesweep.tuning.sweep.run_sweep` share."""

    loaded: LoadedJob
    task: Any
    name: str
    options: SweepOptions
    tracking_uri: str
    tracker: Any  # finesweep.tracking.runs.SweepTracker
    results: Path | str  # <storage_path>/<sweep>: a local folder or an object-store URI
    console: Console
    settings: Settings = field(default_factory=Settings)  # tracking, storage, Ray address, ... (the entry point's)
    started: float = field(default_factory=time.time)  # wall clock (s) when this run began
    commit: str | None = None  # the git commit of the code that runs
    data: Any = None
    base: Any = None
    baseline: dict[str, float] = field(default_factory=dict)
    prior: Any = None  # a finesweep.tuning.warm_start.WarmStart: trials the searcher starts from
    extension: int = 0  # 1, 2, ... for the runs of `--more` on this sweep; 0 for the first run

    @property
    def objective(self) -> Objective:
        """The job's objective."""
        return self.loaded.objective

    @property
    def warm_sources(self) -> list[str]:
        """The sweeps a warm start reads: the job's, then the command line's."""
        return list(dict.fromkeys([*self.loaded.job.search.warm_start, *self.options.warm_start]))
