"""Search-space files: which hyperparameters a sweep varies, and over which distributions.

A search-space file is YAML with one top-level key, ``parameters``, mapping a hyperparameter name
(a key of the task's ``train`` section) to a distribution::

    parameters:
      learning_rate: {distribution: loguniform, low: 1.0e-4, high: 3.0e-3}
      epochs:        {distribution: int, low: 1, high: 3}
      lora_r:        {distribution: choice, values: [4, 8, 16]}
      balancing:     {distribution: grid, values: [none, oversample, class_weight]}

Only pydantic is imported here; converting to Optuna or Tune objects lives in ``tuning.search.space``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


def _above_low(high: Any, info: ValidationInfo, strict: bool = True) -> Any:
    """Check ``low < high`` (or ``<=``) on the ``high`` field, so the error names ``high``."""
    low = info.data.get("low")
    if low is not None and (not low < high if strict else not low <= high):
        relation = "<" if strict else "<="
        raise ValueError(f"`low {relation} high` must hold, but got (low={low}, high={high})")
    return high


class _FloatRange(_Strict):
    low: float = Field(description="The smallest value the range can yield.")
    high: float = Field(description="The largest value the range can yield; more than low.")

    @field_validator("high")
    @classmethod
    def _ordered(cls, high: float, info: ValidationInfo) -> float:
        return _above_low(high, info)


class LogUniform(_FloatRange):
    """A float drawn uniformly in log space: learning rates, weight decay."""

    distribution: Literal["loguniform"] = Field(
        description="loguniform: a float drawn uniformly in log space between low and high."
    )
    low: float = Field(gt=0, description="The smallest value the range can yield; more than 0.")
    high: float = Field(gt=0, description="The largest value the range can yield; more than low.")


class Uniform(_FloatRange):
    """A float drawn uniformly in [low, high]: dropout, warmup ratio."""

    distribution: Literal["uniform"] = Field(description="uniform: a float drawn uniformly between low and high.")


class IntRange(_Strict):
    """An integer in [low, high] (both inclusive) on a grid of ``step``; ``log`` samples in log space."""

    distribution: Literal["int"] = Field(
        description="int: a whole number from low to high (both inclusive); grid search enumerates them."
    )
    low: int = Field(description="The smallest integer the range yields (inclusive).")
    high: int = Field(description="The largest integer the range can yield (inclusive); at least low.")
    step: int = Field(default=1, ge=1, description="The spacing of the values: low, low + step, ... up to high.")
    log: bool = Field(default=False, description="Sample in log space (needs low >= 1 and step 1).")

    @field_validator("high")
    @classmethod
    def _ordered(cls, high: int, info: ValidationInfo) -> int:
        return _above_low(high, info, strict=False)

    @model_validator(mode="after")
    def _log_needs_positive(self) -> "IntRange":
        if self.log and self.low < 1:
            raise ValueError(f"`low >= 1` must hold when log is true, but got (low={self.low})")
        if self.log and self.step != 1:
            raise ValueError(f"`step` must be 1 when log is true, but got (step={self.step})")
        return self

    def values(self) -> list[int]:
        """Every integer the range can yield (used by grid search; count them first with ``count``)."""
        return list(range(self.low, self.high + 1, self.step))

    def count(self) -> int:
        """How many integers the range yields, without building them (a seed range can hold 4e9)."""
        return (self.high - self.low) // self.step + 1


class _Finite(_Strict):
    values: list[Any] = Field(
        min_length=1, description="The values to take, each different; each must be valid for the hyperparameter."
    )

    @model_validator(mode="after")
    def _unique(self) -> "_Finite":
        seen: list[Any] = []
        for value in self.values:
            if value in seen:
                raise ValueError(f"values must be unique, but {value!r} appears twice")
            seen.append(value)
        return self


class Choice(_Finite):
    """One of a list of values, sampled by TPE/random and enumerated by grid search."""

    distribution: Literal["choice"] = Field(
        description="choice: one of values, sampled by the searcher (enumerated by grid search)."
    )


class Grid(_Finite):
    """Values to enumerate; under TPE/random they are sampled like ``choice``."""

    distribution: Literal["grid"] = Field(
        description="grid: values to enumerate in grid search; other searchers sample them like choice."
    )


ParamSpec = Annotated[Union[LogUniform, Uniform, IntRange, Choice, Grid], Field(discriminator="distribution")]
DISTRIBUTIONS: dict[str, type[BaseModel]] = {
    "loguniform": LogUniform,
    "uniform": Uniform,
    "int": IntRange,
    "choice": Choice,
    "grid": Grid,
}


class SearchSpaceFile(_Strict):
    """The top level of a search-space YAML file."""

    description: str | None = Field(
        default=None, description="Free text for readers of the file; finesweep does not interpret it."
    )
    # each value is checked on its own against ParamSpec by the loader, so that one bad
    # parameter does not hide problems in the others
    parameters: dict[str, Any] = Field(
        description="Each searched hyperparameter (a key of the task's train section) and its distribution."
    )


def value_count(spec: Any) -> int | None:
    """How many values ``spec`` can take (a grid axis's length), or None for a continuous range."""
    if isinstance(spec, (Choice, Grid)):
        return len(spec.values)
    if isinstance(spec, IntRange):
        return spec.count()
    return None


def grid_size(space: dict[str, Any]) -> int | None:
    """Points of the full grid over ``space``, counted without building it; None if any axis is continuous."""
    size = 1
    for spec in space.values():
        count = value_count(spec)
        if count is None:
            return None
        size *= count
    return size


def finite_values(spec: Any) -> list[Any] | None:
    """The values a grid search would enumerate for ``spec``, or None for a continuous range."""
    if isinstance(spec, (Choice, Grid)):
        return list(spec.values)
    if isinstance(spec, IntRange):
        return spec.values()
    return None


def _int_ends(spec: IntRange) -> list[int]:
    last = spec.low + (spec.high - spec.low) // spec.step * spec.step
    return [spec.low] if last == spec.low else [spec.low, last]


def candidate_values(spec: Any) -> list[Any]:
    """Values that must each be valid for the hyperparameter: every choice, or a range's ends."""
    if isinstance(spec, IntRange):
        return _int_ends(spec)
    values = finite_values(spec)
    if values is not None:
        return values
    return [spec.low, spec.high]


def upper_bound(spec: Any) -> Any:
    """The largest value ``spec`` can produce (for numeric specs), used to check ASHA's max_t."""
    values = finite_values(spec)
    if isinstance(spec, IntRange):
        return _int_ends(spec)[-1]
    if values is not None:
        numeric = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return max(numeric) if numeric else None
    return spec.high


def contains(spec: Any, value: Any) -> bool:
    """True when ``spec`` can produce ``value`` (a warm start takes only trials inside the space)."""
    if isinstance(spec, (Choice, Grid)):
        return any(type(value) is type(v) and value == v for v in spec.values)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(spec, IntRange):
        return isinstance(value, int) and spec.low <= value <= spec.high and (value - spec.low) % spec.step == 0
    return spec.low <= value <= spec.high


def from_text(spec: Any, text: str) -> Any:
    """A value MLflow kept as a text param, read back as ``spec`` types it (ValueError if none fits);
    for runs recorded before trials logged their values as JSON."""
    if isinstance(spec, (Choice, Grid)):
        for value in spec.values:
            if str(value) == text:
                return value
        raise ValueError(f"{text!r} is none of {spec.values!r}")
    if isinstance(spec, IntRange):
        return int(text)
    return float(text)


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
