"""On a finite space, TPE and random sampling never run one configuration twice (real Optuna searchers)."""

from __future__ import annotations

import pytest

from finesweep.tuning.search.unique import UniqueConfigurations, config_key

SPACE = {
    "lora_r": {"distribution": "choice", "values": [4, 8]},
    "balancing": {"distribution": "choice", "values": ["none", "class_weight"]},
    "epochs": {"distribution": "int", "low": 1, "high": 2},
}
NAMES = sorted(SPACE)


def _searcher(algorithm: str, seed: int = 0) -> UniqueConfigurations:
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    from finesweep.config.loader import parse_parameters
    from finesweep.tuning.search.space import grid_points, to_optuna

    problems: list[str] = []
    space = parse_parameters(SPACE, "test", "parameters", problems)
    assert not problems
    sampler = (optuna.samplers.TPESampler(seed=seed, n_startup_trials=2) if algorithm == "tpe"
               else optuna.samplers.RandomSampler(seed=seed))  # fmt: skip
    inner = OptunaSearch(space=to_optuna(space), metric="val_macro_f1", mode="max", sampler=sampler)
    return UniqueConfigurations(inner, grid_points(space), seed)


def _run(searcher: UniqueConfigurations, first: int, count: int, seen: list) -> list:
    """Ask for ``count`` trials one after another, each completing before the next (like 1 slot)."""
    from ray.tune.search import Searcher

    for number in range(first, first + count):
        config = searcher.suggest(f"t{number}")
        if config == Searcher.FINISHED:
            seen.append("FINISHED")
            break
        seen.append(config_key(config, NAMES))
        # a score that makes one corner best, so TPE keeps proposing its neighbourhood
        score = 0.5 + 0.1 * (config["lora_r"] == 8) + 0.1 * (config["epochs"] == 2)
        searcher.on_trial_complete(f"t{number}", {"val_macro_f1": score})
    return seen


@pytest.mark.parametrize("algorithm", ["tpe", "random"])
def test_every_point_of_a_finite_space_runs_once_then_the_search_ends(algorithm):
    searcher = _searcher(algorithm)
    seen = _run(searcher, 0, 12, [])
    assert seen[-1] == "FINISHED", seen
    configs = seen[:-1]
    assert len(configs) == 8 == len(set(configs)), "all 2*2*2 configurations, none twice"
    assert searcher.discarded > 0, "the sampler did propose repeats; they were thrown away"


def test_the_no_repeat_memory_survives_save_and_restore(tmp_path):
    first = _searcher("tpe", seed=3)
    seen = _run(first, 0, 4, [])
    # as Tune's SearchGenerator does: the wrapper's state, and the sampler saved on its own
    state = first.get_state()
    first.searcher.save(str(tmp_path / "sampler.pkl"))
    second = _searcher("tpe", seed=3)
    second.set_state(state)
    second.searcher.restore(str(tmp_path / "sampler.pkl"))
    seen = _run(second, 4, 10, seen)
    assert seen[-1] == "FINISHED" and len(seen[:-1]) == 8 == len(set(seen[:-1])), seen
