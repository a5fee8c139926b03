"""Per-label metric names of a classification task: one readable, MLflow-safe and distinct key per
label (``val_f1_<key>``), and the table that says which of them MLflow charts."""

from __future__ import annotations

import re
from collections.abc import Iterable

from finesweep.objective.layout import MetricTable

# MLflow 3.17 takes word characters of any script (Korean letters included), '_', '-', '.', ' ',
# ':' and '/' in a metric name and refuses others such as '(' (measured): a label keeps its letters
# and digits, and every other character becomes '_'.
_UNSAFE = re.compile(r"[^\w\-.]")
PER_LABEL = re.compile(r"^(?:train|val|test)_f1_(.+)$")
PER_LABEL_SPLITS = ("train", "val", "test")
PER_LABEL_ARTIFACT = "per_label_f1.json"
CHARTED_LABELS = 3  # the most frequent labels whose F1 is also a metric; the rest are in the table


def metric_key(label: str) -> str:
    """The MLflow-safe, readable metric suffix for one label name (``val_f1_<key>``): ``joy``,
    ``기쁨``, ``흐뭇함_귀여움_예쁨_``. :func:`label_keys` keeps a label set's keys distinct."""
    return _UNSAFE.sub("_", label)


def label_keys(label_names: list[str]) -> list[str]:
    """Distinct metric suffixes for a label set, in its order: each label's :func:`metric_key`, or
    ``<id>_<key>`` (its index first) for labels whose keys would collide or hold no letter or
    digit, so that no per-label metric overwrites another."""
    keys = [metric_key(name) for name in label_names]
    counts = {key: keys.count(key) for key in keys}
    return [key if counts[key] == 1 and key.strip("_-.") else f"{index}_{key}" for index, key in enumerate(keys)]


def per_label_table(label_names: list[str], train_counts: dict[str, int], named: Iterable[str]) -> MetricTable:
    """Which per-label F1s MLflow charts: those of the :data:`CHARTED_LABELS` most frequent training
    labels and of every label a goal or constraint names (``named``: metric names); every label's
    F1, charted or not, goes to the trial's ``per_label_f1.json``.

    44 labels would otherwise add 88 charts to MLflow's chart view, ahead of the objective's.
    """
    keys = label_keys(label_names)
    by_frequency = sorted(range(len(keys)), key=lambda i: (-train_counts.get(label_names[i], 0), i))
    charted = {keys[i] for i in by_frequency[:CHARTED_LABELS]}
    charted |= {match.group(1) for match in map(PER_LABEL.match, named) if match}
    return MetricTable(
        artifact=PER_LABEL_ARTIFACT,
        columns=tuple((index, name, key) for index, (name, key) in enumerate(zip(label_names, keys))),
        tabled=frozenset(f"{split}_f1_{key}" for split in PER_LABEL_SPLITS for key in keys if key not in charted),
        prefixes=tuple(f"{split}_f1_" for split in PER_LABEL_SPLITS),
    )
