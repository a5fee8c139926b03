"""What every searcher provides: its options, what it can optimise, and an Optuna sampler.

A searcher is one subclass of :class:`Searcher` plus one line in the registry
(``finesweep.searchers``). Its ``options_model`` validates the job's ``search.options`` block; its
class attributes say what it can do, so that ``validate`` refuses a combination that cannot work
(a multi-objective sweep with a single-objective sampler, say) before anything starts. Only
pydantic is imported here; Optuna is imported when a sampler is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from optuna.samplers import BaseSampler

    from finesweep.objective import Objective


class SearcherOptions(BaseModel):
    """Options of a searcher that takes none."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


@dataclass(frozen=True)
class SamplerInputs:
    """What a sampler is built from, besides its options."""

    objective: "Objective"
    seed: int
    num_samples: int  # trials the sweep plans (the grid's size for grid search)
    grid: dict[str, list[Any]] | None = None  # every value of every parameter, for a finite space
    extra: dict[str, Any] = field(default_factory=dict)


class Searcher:
    """Base class of a searcher. Subclasses set the class attributes and implement :meth:`sampler`."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""  # one line for `finesweep schema` and the docs
    options_model: ClassVar[type[SearcherOptions]] = SearcherOptions
    objectives: ClassVar[Literal["single", "multi", "any"]] = "any"
    uses_constraints: ClassVar[bool] = False  # the sampler prefers feasible regions (Optuna's constraints)
    uses_history: ClassVar[bool] = True  # it learns from finished trials (warm starts, --more)
    finite_only: ClassVar[bool] = False  # every parameter needs finitely many values (grid search)

    def problems(self, objective: "Objective", continuous: list[str]) -> list[str]:
        """Why this searcher cannot run a sweep with ``objective`` over a space whose ``continuous``
        parameters are listed: one line each, naming what to change."""
        found = []
        if self.objectives == "single" and objective.multi:
            found.append(f"{self.name} optimises one metric, but search.objectives lists {len(objective.goals)}; "
                         "use tpe, motpe, nsga2, gp, qmc or random for several")  # fmt: skip
        if self.objectives == "multi" and not objective.multi:
            found.append(f"{self.name} needs two or more search.objectives (got one: {objective.primary.metric}); "
                         "use tpe for one metric")  # fmt: skip
        if self.finite_only and continuous:
            verb = "is" if len(continuous) == 1 else "are"
            found.append(f"{self.name} needs finite values (choice, grid or int), but {', '.join(continuous)} {verb} continuous")
        return found

    def sampler(self, options: Any, inputs: SamplerInputs) -> "BaseSampler":
        """The Optuna sampler for ``options`` (an instance of ``options_model``)."""
        raise NotImplementedError

    def describe(self, options: Any, inputs: SamplerInputs) -> str:
        """One line for the sweep's console: what searches, with which settings."""
        return f"{self.summary} (seed {inputs.seed})"
