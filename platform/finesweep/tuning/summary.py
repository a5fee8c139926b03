"""What a finished sweep reports: built by the sweep's last step (``_finish``), returned by
:func:`finesweep.tuning.sweep.run_sweep` (which re-exports it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from finesweep.objective import Objective


@dataclass
class SweepSummary:
    """What a finished sweep reports (and what tests check)."""

    name: str
    tracking_uri: str
    parent_run_id: str
    objective: Objective
    statuses: dict[str, str]
    best_trial_id: str | None = None
    best_value: float | None = None  # the best trial's primary metric
    wall_time_s: float = 0.0
    max_concurrent: int = 0
    resources_released: bool = True
    leaked: dict[str, float] = field(default_factory=dict)
    mean_time_to_first_step_s: float | None = None
    median_time_to_first_step_s: float | None = None  # over every trial, ASHA-stopped ones included
    errors: dict[str, str] = field(default_factory=dict)  # failed trial -> the exception it died of
    startup: dict[str, float] = field(default_factory=dict)  # mean seconds per start phase of a trial
    storage_path: str = ""
    experiment_id: str = ""
    front: list[str] = field(default_factory=list)  # trial ids of the Pareto front (several objectives)
    infeasible: int = 0  # completed trials that break a constraint
    ended_by: str = "trials"  # trials | budget.wall | budget.trial_epochs
    warm_started: int = 0  # prior trials from earlier sweeps the searcher started with
    board: Any = None  # the leaderboard of every trial (a tracking.leaderboard.Leaderboard), from the sweep's one read
    verdict: str = ""  # one line: the best trial against each baseline, and what the data suggests when it loses

    def count(self, status: str) -> int:
        """Number of trials that ended with ``status``."""
        return sum(1 for s in self.statuses.values() if s == status)
