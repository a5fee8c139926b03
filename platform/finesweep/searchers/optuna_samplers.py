"""The searchers backed by Optuna's samplers: TPE (one or several objectives), random, Gaussian
process, CMA-ES, quasi-Monte Carlo and NSGA-II. Each exposes the sampler options a user tunes,
with Optuna's own defaults unless a comment says why not."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from finesweep.searchers.base import SamplerInputs, Searcher, SearcherOptions

if TYPE_CHECKING:
    from optuna.samplers import BaseSampler


def default_startup_trials(num_samples: int) -> int:
    """Random trials before a model-based sampler takes over: a quarter of the budget, 2 to 10."""
    return max(2, min(10, num_samples // 4))


class TPEOptions(SearcherOptions):
    """Options of Optuna's TPESampler."""

    n_startup_trials: int | None = Field(
        default=None, ge=0, le=10_000,
        description="Random trials before TPE models the space (earlier trials of a warm start count). "
                    "Default: a quarter of num_samples, between 2 and 10.",
    )  # fmt: skip
    multivariate: bool | None = Field(
        default=None,
        description="Model the parameters jointly instead of one by one. Default: Optuna's (joint for one "
                    "objective, independent for several).",
    )  # fmt: skip
    constant_liar: bool = Field(
        default=True,
        description="While trials run, treat them as if they had returned a poor value, so that trials "
                    "started at the same time are not all drawn near the same point. Matters whenever "
                    "max_concurrent_trials > 1.",
    )  # fmt: skip
    n_ei_candidates: int = Field(default=24, ge=1, le=10_000, description="Candidates scored per proposal.")


class TPE(Searcher):
    """Tree-structured Parzen estimator, for one or several objectives."""

    name = "tpe"
    summary = "Optuna TPE"
    options_model: ClassVar[type[SearcherOptions]] = TPEOptions
    uses_constraints = True

    def sampler(self, options: Any, inputs: SamplerInputs) -> "BaseSampler":
        import optuna

        return optuna.samplers.TPESampler(
            seed=inputs.seed, n_startup_trials=_startup(options, inputs), multivariate=options.multivariate,
            constant_liar=options.constant_liar, n_ei_candidates=options.n_ei_candidates,
        )  # fmt: skip

    def describe(self, options: Any, inputs: SamplerInputs) -> str:
        liar = "constant liar" if options.constant_liar else "no constant liar"
        kind = "multi-objective TPE" if inputs.objective.multi else "TPE"
        return f"Optuna {kind} (seed {inputs.seed}, {_startup(options, inputs)} random start-up trials, {liar})"


class MOTPE(TPE):
    """TPE over two or more objectives (Ozaki et al., "Multiobjective tree-structured Parzen
    estimator", JAIR 2022): the same sampler, refused for a single objective."""

    name = "motpe"
    summary = "Optuna multi-objective TPE"
    objectives = "multi"


def _startup(options: Any, inputs: SamplerInputs) -> int:
    given = options.n_startup_trials
    return default_startup_trials(inputs.num_samples) if given is None else given


class RandomSearch(Searcher):
    """Independent uniform draws: the baseline every other searcher should beat."""

    name = "random"
    summary = "Optuna random sampling"
    uses_history = False

    def sampler(self, options: Any, inputs: SamplerInputs) -> "BaseSampler":
        import optuna

        return optuna.samplers.RandomSampler(seed=inputs.seed)


class GPOptions(SearcherOptions):
    """Options of Optuna's GPSampler."""

    n_startup_trials: int | None = Field(
        default=None, ge=0, le=10_000,
        description="Random trials before the Gaussian process is fitted. Default: a quarter of num_samples, between 2 and 10.",
    )  # fmt: skip
    deterministic_objective: bool = Field(
        default=False,
        description="Fit the process without observation noise. True only if the same configuration always "
                    "gives the same metric (a fixed train.seed on a deterministic device).",
    )  # fmt: skip
    max_fitted_trials: int = Field(
        default=200, ge=10, le=10_000,
        description="Most finished trials the process is fitted on: the best half and the most recent half. "
                    "An exact process costs O(n^3) in them, so this bounds each proposal's time (about a second "
                    "at 200 on one CPU core).",
    )  # fmt: skip


class GP(Searcher):
    """Bayesian optimisation with a Gaussian process (log expected improvement), one or several objectives."""

    name = "gp"
    summary = "Optuna Gaussian-process Bayesian optimisation"
    options_model: ClassVar[type[SearcherOptions]] = GPOptions
    uses_constraints = True

    def sampler(self, options: Any, inputs: SamplerInputs) -> "BaseSampler":
        from finesweep.searchers._bounded_gp import BoundedGPSampler

        return BoundedGPSampler(
            seed=inputs.seed, n_startup_trials=_startup(options, inputs),
            deterministic_objective=options.deterministic_objective, max_fitted_trials=options.max_fitted_trials,
        )  # fmt: skip

    def describe(self, options: Any, inputs: SamplerInputs) -> str:
        return (f"{self.summary} (seed {inputs.seed}, {_startup(options, inputs)} random start-up trials, "
                f"fitted on at most {options.max_fitted_trials} trials)")  # fmt: skip


class CmaEsOptions(SearcherOptions):
    """Options of Optuna's CmaEsSampler."""

    n_startup_trials: int = Field(default=1, ge=0, le=10_000, description="Random trials before CMA-ES starts.")
    sigma0: float | None = Field(
        default=None, gt=0, le=1e6,
        description="Initial step size, in the units of the (log-transformed) space. Default: a sixth of the space's width.",
    )  # fmt: skip
    popsize: int | None = Field(default=None, ge=2, le=10_000, description="Population size. Default: 4 + 3 ln(dimensions).")
    restart_strategy: Literal["ipop", "bipop"] | None = Field(
        default=None, description="Restart with a growing (ipop) or alternating (bipop) population when it converges."
    )
    use_separable_cma: bool = Field(default=False, description="Diagonal covariance: cheaper in many dimensions.")
    with_margin: bool = Field(
        default=False, description="CMA-ES with margin: keeps integer parameters from collapsing to one value."
    )


class CmaEs(Searcher):
    """Covariance matrix adaptation (the ``cmaes`` package): one objective, numeric parameters; choices
    are drawn at random beside it."""

    name = "cmaes"
    summary = "Optuna CMA-ES"
    options_model: ClassVar[type[SearcherOptions]] = CmaEsOptions
    objectives = "single"

    def sampler(self, options: Any, inputs: SamplerInputs) -> "BaseSampler":
        import optuna

        return optuna.samplers.CmaEsSampler(
            seed=inputs.seed, n_startup_trials=options.n_startup_trials, sigma0=options.sigma0, popsize=options.popsize,
            restart_strategy=options.restart_strategy, use_separable_cma=options.use_separable_cma,
            with_margin=options.with_margin, warn_independent_sampling=False,
        )  # fmt: skip


class QMCOptions(SearcherOptions):
    """Options of Optuna's QMCSampler."""

    qmc_type: Literal["sobol", "halton"] = Field(default="sobol", description="The low-discrepancy sequence.")
    scramble: bool = Field(default=True, description="Randomise the sequence with the seed (else every seed gives the same points).")


class QMC(Searcher):
    """Quasi-Monte Carlo: points that cover the space more evenly than random draws; learns nothing."""

    name = "qmc"
    summary = "Optuna quasi-Monte Carlo sampling"
    options_model: ClassVar[type[SearcherOptions]] = QMCOptions
    uses_history = False

    def sampler(self, options: Any, inputs: SamplerInputs) -> "BaseSampler":
        import optuna

        return optuna.samplers.QMCSampler(
            seed=inputs.seed, qmc_type=options.qmc_type, scramble=options.scramble,
            warn_asynchronous_seeding=False, warn_independent_sampling=False,
        )  # fmt: skip

    def describe(self, options: Any, inputs: SamplerInputs) -> str:
        return f"{self.summary} ({options.qmc_type}, seed {inputs.seed})"


class NSGA2Options(SearcherOptions):
    """Options of Optuna's NSGAIISampler."""

    population_size: int = Field(
        default=8, ge=2, le=10_000,
        description="Trials per generation. Optuna's default of 50 suits thousands of trials; a sweep runs tens.",
    )  # fmt: skip
    mutation_prob: float | None = Field(default=None, ge=0, le=1, description="Per-parameter mutation probability. Default: 1 / parameters.")
    crossover_prob: float = Field(default=0.9, ge=0, le=1, description="Probability that a child is a crossover of two parents.")
    swapping_prob: float = Field(default=0.5, ge=0, le=1, description="Per-parameter probability of taking the second parent's value.")


class NSGA2(Searcher):
    """NSGA-II, the elitist genetic algorithm for several objectives (Deb et al. 2002)."""

    name = "nsga2"
    summary = "Optuna NSGA-II"
    options_model: ClassVar[type[SearcherOptions]] = NSGA2Options
    uses_constraints = True

    def sampler(self, options: Any, inputs: SamplerInputs) -> "BaseSampler":
        import optuna

        return optuna.samplers.NSGAIISampler(
            seed=inputs.seed, population_size=options.population_size, mutation_prob=options.mutation_prob,
            crossover_prob=options.crossover_prob, swapping_prob=options.swapping_prob,
        )  # fmt: skip

    def describe(self, options: Any, inputs: SamplerInputs) -> str:
        return f"{self.summary} (seed {inputs.seed}, generations of {options.population_size})"
