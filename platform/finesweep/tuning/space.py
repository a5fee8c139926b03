"""Convert a validated search space to Optuna distributions or a Tune grid."""

from __future__ import annotations

from typing import Any

from finesweep.config.space import Choice, Grid, IntRange, LogUniform, Uniform, finite_values
from finesweep.config.space import grid_size as _counted_grid_size


def to_optuna(space: dict[str, Any]) -> dict[str, Any]:
    """Optuna distributions for OptunaSearch (TPE or random sampling)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for name, spec in space.items():
        if isinstance(spec, LogUniform):
            out[name] = FloatDistribution(spec.low, spec.high, log=True)
        elif isinstance(spec, Uniform):
            out[name] = FloatDistribution(spec.low, spec.high)
        elif isinstance(spec, IntRange):
            out[name] = IntDistribution(spec.low, spec.high, step=spec.step, log=spec.log)
        elif isinstance(spec, (Choice, Grid)):
            out[name] = CategoricalDistribution(list(spec.values))
        else:  # pragma: no cover - the schema admits no other kind
            raise TypeError(f"unsupported distribution for {name}: {spec!r}")
    return out


def grid_points(space: dict[str, Any]) -> dict[str, list[Any]]:
    """Values per parameter for a full grid (every spec must be finite; validation checks this)."""
    return {name: finite_values(spec) for name, spec in space.items()}


def grid_size(space: dict[str, Any]) -> int:
    """Number of points in the full grid (counted, not built; validation capped it)."""
    size = _counted_grid_size(space)
    if size is None:  # pragma: no cover - validation refuses grids over continuous ranges
        raise ValueError("a grid needs finite values for every parameter")
    return size
