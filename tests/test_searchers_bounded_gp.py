"""The GP searcher fits its process on a bounded subset of the finished trials (searchers/_bounded_gp.py)."""

from __future__ import annotations

import warnings

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.study import StudyDirection

from finesweep.searchers._bounded_gp import BoundedGPSampler, fitted_subset

SPACE = {"x": FloatDistribution(0.0, 1.0), "y": FloatDistribution(0.0, 1.0)}


def _trials(values: list[float] | list[tuple[float, float]]) -> list[optuna.trial.FrozenTrial]:
    made = []
    for number, value in enumerate(values):
        many = isinstance(value, tuple)
        trial = optuna.trial.create_trial(params={"x": number / 100, "y": 0.5}, distributions=SPACE,
                                          values=list(value) if many else [value])  # fmt: skip
        made.append(trial)
    return made


def test_under_the_bound_every_trial_is_fitted() -> None:
    trials = _trials([0.1, 0.5, 0.3])
    assert fitted_subset(trials, [StudyDirection.MAXIMIZE], 10) == trials


def test_over_the_bound_it_keeps_the_best_half_and_the_most_recent() -> None:
    values = [0.9, 0.1, 0.8, 0.2, 0.3, 0.4, 0.05, 0.06]  # the best (maximised) are trials 0 and 2
    kept = fitted_subset(_trials(values), [StudyDirection.MAXIMIZE], 4)
    assert [t.params["x"] for t in kept] == [0.0, 0.02, 0.06, 0.07]


def test_minimised_objectives_keep_the_lowest() -> None:
    values = [0.9, 0.1, 0.8, 0.2, 0.3, 0.4]
    kept = fitted_subset(_trials(values), [StudyDirection.MINIMIZE], 4)
    assert [t.params["x"] for t in kept] == [0.01, 0.03, 0.04, 0.05]


def test_several_objectives_keep_the_pareto_front() -> None:
    # maximise both: (0.9, 0.5) and (0.5, 0.9) are the front; both dominate every other point
    values = [(0.9, 0.5), (0.4, 0.4), (0.5, 0.9), (0.3, 0.3), (0.2, 0.2), (0.1, 0.1)]
    kept = fitted_subset(_trials(values), [StudyDirection.MAXIMIZE] * 2, 4)
    assert [t.params["x"] for t in kept] == [0.0, 0.02, 0.04, 0.05]


class _CountingSampler(BoundedGPSampler):
    """The bounded sampler, recording how many trials each fit saw (to check Optuna's hook is reached)."""

    fitted_sizes: list[int]

    def _sample_relative_impl(self, study, completed_trials, running_trials, search_space):  # type: ignore[no-untyped-def]
        fitted = fitted_subset(completed_trials, study.directions, self._max_fitted_trials)
        self.fitted_sizes.append(len(fitted))
        return super()._sample_relative_impl(study, completed_trials, running_trials, search_space)


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_real_study_proposes_inside_the_space_with_the_bound() -> None:
    sampler = _CountingSampler(seed=0, n_startup_trials=3, max_fitted_trials=10)
    sampler.fitted_sizes = []
    study = optuna.create_study(direction="maximize", sampler=sampler)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.optimize(lambda t: -((t.suggest_float("x", 0, 1) - 0.3) ** 2) - (t.suggest_float("y", 0, 1) - 0.7) ** 2,
                       n_trials=25)  # fmt: skip
    assert len(sampler.fitted_sizes) == 22  # every trial after the 3 random ones went through the GP
    assert max(sampler.fitted_sizes) == 10 and sampler.fitted_sizes[0] == 3
    best = study.best_params
    assert abs(best["x"] - 0.3) < 0.2 and abs(best["y"] - 0.7) < 0.2
