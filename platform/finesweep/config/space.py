"""Search-space files: which hyperparameters a sweep varies, and over which distributions.

A search-space file is YAML with one top-level key, ``parameters``, mapping a hyperparameter name
(a key of the task's ``train`` section) to a distribution::

    parameters:
      learning_rate: {distribution: loguniform, low: 1.0e-4, high: 3.0e-3}
      epochs:        {distribution: int, low: 1, high: 3}
      lora_r:        {distribution: choice, values: [4, 8, 16]}
      balancing:     {distribution: grid, values: [none, oversample, class_weight]}

Only pydantic is imported here; converting to Optuna or Tune objects lives in ``tuning.space``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class LogUniform(_Strict):
    """A float drawn uniformly in log space: learning rates, weight decay."""

    distribution: Literal["loguniform"]
    low: float = Field(gt=0)
    high: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> "LogUniform":
        if not self.low < self.high:
            raise ValueError(f"`low < high` must hold, but got (low={self.low}, high={self.high})")
        return self


class Uniform(_Strict):
    """A float drawn uniformly in [low, high]: dropout, warmup ratio."""

    distribution: Literal["uniform"]
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> "Uniform":
        if not self.low < self.high:
            raise ValueError(f"`low < high` must hold, but got (low={self.low}, high={self.high})")
        return self


class IntRange(_Strict):
    """An integer in [low, high] (both inclusive) on a grid of ``step``; ``log`` samples in log space."""

    distribution: Literal["int"]
    low: int
    high: int
    step: int = Field(default=1, ge=1)
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> "IntRange":
        if not self.low <= self.high:
            raise ValueError(f"`low <= high` must hold, but got (low={self.low}, high={self.high})")
        if self.log and self.low < 1:
            raise ValueError(f"`low >= 1` must hold when log is true, but got (low={self.low})")
        if self.log and self.step != 1:
            raise ValueError("`step` must be 1 when log is true")
        return self

    def values(self) -> list[int]:
        """Every integer the range can yield (used by grid search)."""
        return list(range(self.low, self.high + 1, self.step))


class _Finite(_Strict):
    values: list[Any] = Field(min_length=1)

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

    distribution: Literal["choice"]


class Grid(_Finite):
    """Values to enumerate; under TPE/random they are sampled like ``choice``."""

    distribution: Literal["grid"]


ParamSpec = Annotated[Union[LogUniform, Uniform, IntRange, Choice, Grid], Field(discriminator="distribution")]


class SearchSpaceFile(_Strict):
    """The top level of a search-space YAML file."""

    description: str | None = None
    parameters: dict[str, ParamSpec] = Field(min_length=1)


def finite_values(spec: Any) -> list[Any] | None:
    """The values a grid search would enumerate for ``spec``, or None for a continuous range."""
    if isinstance(spec, (Choice, Grid)):
        return list(spec.values)
    if isinstance(spec, IntRange):
        return spec.values()
    return None


def candidate_values(spec: Any) -> list[Any]:
    """Values that must each be valid for the hyperparameter: every choice, or a range's ends."""
    values = finite_values(spec)
    if values is not None:
        return values
    return [spec.low, spec.high]


def upper_bound(spec: Any) -> Any:
    """The largest value ``spec`` can produce (for numeric specs), used to check ASHA's max_t."""
    values = finite_values(spec)
    if values is not None:
        numeric = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return max(numeric) if numeric else None
    return spec.high
