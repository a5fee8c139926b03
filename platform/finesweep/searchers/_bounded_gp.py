"""Optuna's GPSampler, fitted on a bounded subset of the finished trials.

An exact Gaussian process costs O(n^3) to fit and O(n^2) per acquisition evaluation in the n
trials it is fitted on, so a sweep of hundreds of trials spends more time proposing than a replay
trial spends running. This sampler keeps n at most ``max_fitted_trials``: the best half (by
non-domination rank, i.e. by value for one objective) and the most recent half. That is the
"subset of data" approximation of Rasmussen & Williams, *Gaussian Processes for Machine
Learning* (2006), section 8.3.1, with the subset chosen so that the region expected improvement
works in (around the best trials) and the searcher's latest moves stay modelled.
Below the bound it is Optuna's sampler unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from optuna.samplers import GPSampler
from optuna.study import StudyDirection

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.study import Study
    from optuna.trial import FrozenTrial


class BoundedGPSampler(GPSampler):
    """``GPSampler`` that fits its process on at most ``max_fitted_trials`` finished trials."""

    def __init__(self, *, max_fitted_trials: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._max_fitted_trials = max_fitted_trials

    # Optuna 5.0's hook between reading the study's trials and fitting the process (pinned in
    # pyproject.toml; tests/test_searchers_bounded_gp.py fails if its signature moves).
    def _sample_relative_impl(
        self,
        study: "Study",
        completed_trials: list["FrozenTrial"],
        running_trials: list["FrozenTrial"],
        search_space: dict[str, "BaseDistribution"],
    ) -> dict[str, Any]:
        fitted = fitted_subset(completed_trials, study.directions, self._max_fitted_trials)
        return super()._sample_relative_impl(study, fitted, running_trials, search_space)


def fitted_subset(trials: list["FrozenTrial"], directions: list[StudyDirection], limit: int) -> list["FrozenTrial"]:
    """At most ``limit`` of ``trials``: the best ``limit // 2`` by non-domination rank (ties to the
    earlier trial), then the most recent of the rest; in their original order."""
    if len(trials) <= limit:
        return trials
    from optuna.study._multi_objective import _fast_non_domination_rank

    signs = np.array([1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in directions])
    losses = signs * np.array([t.values for t in trials], dtype=float)
    ranks = _fast_non_domination_rank(losses, n_below=limit // 2)
    best = set(np.argsort(ranks, kind="stable")[: limit // 2].tolist())
    recent = [i for i in range(len(trials) - 1, -1, -1) if i not in best][: limit - len(best)]
    keep = sorted(best | set(recent))
    return [trials[i] for i in keep]
