"""Never run the same configuration twice in one sweep over a finite search space.

On a space of choices and integer ranges, TPE and random sampling propose configurations already
run (measured: both proposed the same one twice in a row on the quickstart's finite variant), and
each repeat costs a whole trial that teaches nothing new. :class:`UniqueConfigurations` wraps the
sampler's Tune searcher: a proposal already seen is discarded (the sampler is told it failed, so it
does not wait for it) and the sampler is asked again; after ``MAX_REASKS`` repeats an unseen
point of the space is taken at random (seeded), and its result is given to the sampler as an
evaluated point. When every point has run, the searcher reports that it is finished.
"""

from __future__ import annotations

import copy
import itertools
import random
from typing import Any

from ray.tune.search import Searcher

MAX_REASKS = 20  # proposals asked of the sampler per trial before an unseen point is taken


def config_key(config: dict[str, Any], names: list[str]) -> tuple[tuple[str, str], ...]:
    """A hashable identity of a configuration over the searched names (values by repr: 16 != 16.0)."""
    return tuple((name, repr(config.get(name))) for name in names)


class UniqueConfigurations(Searcher):
    """A Tune searcher that forwards to ``searcher`` but never suggests a configuration twice."""

    def __init__(self, searcher: Searcher, points: dict[str, list[Any]], seed: int,
                 already_run: list[dict[str, Any]] = ()):  # fmt: skip
        super().__init__(metric=searcher.metric, mode=searcher.mode)
        self.searcher = searcher
        self.points = points  # every value of every searched parameter (a finite space)
        self.names = sorted(points)
        self.rng = random.Random(seed)
        # configurations run before this searcher started (the sweep's own trials, given --more)
        self.seen: set[tuple[tuple[str, str], ...]] = {config_key(c, self.names) for c in already_run}
        self.inner_id: dict[str, str] = {}  # Tune's trial id -> the id the sampler knows it by
        self.outside: dict[str, dict[str, Any]] = {}  # trials whose point the sampler did not propose
        self.discarded = 0  # repeated proposals thrown away (reported by tests and benchmarks)

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        """Forwarded: Tune tells the sampler the sweep's metric and mode."""
        return self.searcher.set_search_properties(metric, mode, config, **spec)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        """The sampler's next unseen proposal, else an unseen point, else ``FINISHED``."""
        for attempt in range(MAX_REASKS):
            inner = trial_id if attempt == 0 else f"{trial_id}-reask{attempt}"
            config = self.searcher.suggest(inner)
            if config is None or config == Searcher.FINISHED:
                return config
            key = config_key(config, self.names)
            if key not in self.seen:
                self.seen.add(key)
                self.inner_id[trial_id] = inner
                return config
            self.discarded += 1
            # the sampler must not keep waiting for a result of a proposal that never runs
            self.searcher.on_trial_complete(inner, result=None, error=True)
        return self._unseen_point(trial_id)

    def _unseen_point(self, trial_id: str) -> dict[str, Any] | None:
        """A point of the space no trial has run, chosen at random; FINISHED when none is left."""
        unseen = [
            dict(zip(self.names, values))
            for values in itertools.product(*(self.points[name] for name in self.names))
            if config_key(dict(zip(self.names, values)), self.names) not in self.seen
        ]
        if not unseen:
            return Searcher.FINISHED
        config = self.rng.choice(unseen)
        self.seen.add(config_key(config, self.names))
        self.outside[trial_id] = config
        return config

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """Forwarded under the id the sampler knows the trial by."""
        if trial_id in self.inner_id:
            self.searcher.on_trial_result(self.inner_id[trial_id], result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Forwarded; a point the sampler did not propose is added to it as an evaluated point."""
        if trial_id in self.inner_id:
            self.searcher.on_trial_complete(self.inner_id.pop(trial_id), result=result, error=error)
            return
        config = self.outside.pop(trial_id, None)
        if config is not None and not error and result:
            self._tell_outside(config, result)

    def _tell_outside(self, config: dict[str, Any], result: dict) -> None:
        """Give the sampler a point it did not propose, with every objective value it optimises."""
        add = getattr(self.searcher, "add_prior", None)
        if add is not None:  # a StudySearch: several objectives and constraints
            add(config, result)
            return
        value = result.get(self.metric) if isinstance(self.metric, str) else None
        if isinstance(value, (int, float)):
            self.searcher.add_evaluated_point(config, float(value))

    def get_state(self) -> dict[str, Any]:
        """This wrapper's memory; Tune saves the sampler itself beside it (``--resume``)."""
        return copy.deepcopy({key: value for key, value in self.__dict__.items() if key != "searcher"})

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`get_state` returned."""
        self.__dict__.update(state)
