"""The metrics a task reports, each declared once with its direction.

A task declares families: ``loss`` (min) on the ``train``/``val``/``test`` splits, ``macro_f1``
(max) on ``val``/``test``, ``f1_<label>`` (max, one per label), and cost metrics without a split
prefix such as ``latency_ms_per_text`` (min). Every name a sweep, the leaderboard or promotion
accepts (``val_f1_joy``, ``test_macro_f1``) and its direction come from here; the held-out
counterpart of a validation metric is its family's ``test_`` name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from finesweep.objective.goals import MetricGoal, Mode

SPLITS = ("train", "val", "test")
_PLACEHOLDER = re.compile(r"<[a-z_]+>")


@dataclass(frozen=True)
class MetricFamily:
    """One metric a task reports, on some splits: ``macro_f1`` on val and test, say.

    ``name`` may hold one placeholder such as ``<label>`` (``f1_<label>``): it then matches any
    non-empty suffix. ``splits`` are the prefixes it is reported with; empty for a metric of the
    trial itself (cost figures such as ``trainable_params``).
    """

    name: str
    mode: Mode
    help: str
    splits: tuple[str, ...] = ("val", "test")

    def names(self) -> list[str]:
        """The metric names this family stands for, as written in a job file (placeholders kept)."""
        return [f"{split}_{self.name}" for split in self.splits] if self.splits else [self.name]

    def split_of(self, metric: str) -> str | None:
        """The split prefix ``metric`` carries in this family ('' for an unprefixed one), or None."""
        for split in self.splits or ("",):
            stem = metric.removeprefix(f"{split}_") if split else metric
            if (not split or metric.startswith(f"{split}_")) and self._matches(stem):
                return split
        return None

    def _matches(self, stem: str) -> bool:
        if not _PLACEHOLDER.search(self.name):
            return stem == self.name
        pattern = "^" + _PLACEHOLDER.sub(".+", re.escape(self.name)) + "$"  # re.escape leaves < and > alone
        return re.match(pattern, stem) is not None


@dataclass(frozen=True)
class MetricCatalog:
    """Every metric a task reports; the one place a metric's direction is known."""

    families: tuple[MetricFamily, ...]

    def family(self, metric: str) -> tuple[MetricFamily, str] | None:
        """The family ``metric`` belongs to and its split, or None for a name the task never reports."""
        for family in self.families:
            split = family.split_of(metric)
            if split is not None:
                return family, split
        return None

    def mode(self, metric: str) -> Mode | None:
        """The direction of ``metric`` (None for an unknown name)."""
        found = self.family(metric)
        return found[0].mode if found else None

    def goal(self, metric: str) -> MetricGoal:
        """``metric`` with its declared direction; ValueError naming the allowed metrics otherwise."""
        mode = self.mode(metric)
        if mode is None:
            raise ValueError(f"unknown metric (got {metric!r}); allowed: {', '.join(self.allowed())}")
        return MetricGoal(metric, mode)

    def allowed(self) -> list[str]:
        """Every metric name a job may name, placeholders kept (``val_f1_<label>``)."""
        return [name for family in self.families for name in family.names()]

    def held_out(self, metric: str) -> str | None:
        """The test-split counterpart of a validation metric (``val_macro_f1`` -> ``test_macro_f1``);
        an unprefixed cost metric is its own; None when the family has no test figure."""
        found = self.family(metric)
        if found is None:
            return None
        family, split = found
        if not split:
            return metric
        if "test" not in family.splits:
            return None
        return "test_" + metric.removeprefix(f"{split}_")

    def is_held_out(self, metric: str) -> bool:
        """True for a test-split figure (``test_macro_f1``)."""
        found = self.family(metric)
        return found is not None and found[1] == "test"


def cost_families(unit: str) -> tuple[MetricFamily, ...]:
    """The cost metrics every trial logs, which a sweep may trade against quality; ``unit`` is what
    one evaluation example is (``text`` or ``query``)."""
    return (
        MetricFamily("trainable_params", "min", "parameters the trial trained (the LoRA adapter and head, or the whole model)", ()),
        MetricFamily("model_size_mb", "min", "MiB of trained weights the trial adds to its base model (fp32 bytes of its trainable parameters)", ()),
        MetricFamily(f"latency_ms_per_{unit}", "min", f"milliseconds of validation-time inference per {unit}, at the job's eval_batch_size", ()),
    )
