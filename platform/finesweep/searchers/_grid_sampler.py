"""Optuna's GridSampler as Tune drives it (a module of its own: it imports Optuna)."""

from __future__ import annotations

from typing import Any

import optuna


class TuneGridSampler(optuna.samplers.GridSampler):
    """GridSampler without its end-of-grid ``study.stop()``. That call works only inside
    ``study.optimize``; Tune tells results from outside (Ray logged a warning per sweep) and ends the
    sweep itself after ``num_samples``, the grid's size."""

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        """Nothing to do: Tune, not the study, decides when the sweep ends."""
        return None
