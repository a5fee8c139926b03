"""Convert a validated search space to Optuna distributions or a Tune grid."""

from __future__ import annotations

from typing import Any

from finesweep.config.space import finite_values
from finesweep.config.space import grid_size as _counted_grid_size
from finesweep.config.space import to_optuna

__all__ = ["grid_points", "grid_size", "to_optuna"]


def grid_points(space: dict[str, Any]) -> dict[str, list[Any]]:
    """Values per parameter for a full grid (every spec must be finite; validation checks this)."""
    return {name: finite_values(spec) for name, spec in space.items()}


def grid_size(space: dict[str, Any]) -> int:
    """Number of points in the full grid (counted, not built; validation capped it)."""
    size = _counted_grid_size(space)
    if size is None:  # pragma: no cover - validation refuses grids over continuous ranges
        raise ValueError("a grid needs finite values for every parameter")
    return size
