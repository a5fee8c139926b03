"""Grid search: every point of a finite space, each run once (Optuna's GridSampler)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finesweep.searchers.base import SamplerInputs, Searcher

if TYPE_CHECKING:
    from optuna.samplers import BaseSampler


class Grid(Searcher):
    """The full grid in a seeded random order, so that a sweep cut short by a budget still covers
    the space evenly instead of only its first corner."""

    name = "grid"
    summary = "grid search"
    uses_history = False
    finite_only = True

    def sampler(self, options: Any, inputs: SamplerInputs) -> "BaseSampler":
        from finesweep.searchers._grid_sampler import TuneGridSampler  # imports Optuna: only when a sweep runs

        return TuneGridSampler(dict(inputs.grid or {}), seed=inputs.seed)

    def describe(self, options: Any, inputs: SamplerInputs) -> str:
        return f"grid over {inputs.num_samples} points, each run once (order seeded with {inputs.seed})"

