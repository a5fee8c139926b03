"""A toy task from outside the package: CARER's six emotions collapsed into negative and positive.

It is registered only through an entry point (``finesweep.tasks``: ``toy_polarity =
toy_polarity_task:TASK``) and must sweep, promote, predict and roll back with no other edit to
finesweep. It reuses text classification's training and serving, and changes the data: its own
labels, its own held-out split."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from finesweep.tasks.text_classification import TextClassificationTask

NEGATIVE = {"sadness", "anger", "fear"}  # CARER's other three (joy, love, surprise) are positive
POLARITY = ["negative", "positive"]


def _polarity(data: Any) -> Any:
    """The same texts with each emotion replaced by its polarity."""
    index = [POLARITY.index("negative" if name in NEGATIVE else "positive") for name in data.label_names]
    splits = {name: {"text": list(split["text"]), "label": [index[y] for y in split["label"]]}
              for name, split in data.splits.items()}  # fmt: skip
    return replace(data, label_names=list(POLARITY), splits=splits, fingerprint=f"{data.fingerprint}:polarity",
                   extra={}, source=f"{data.source} as polarity")  # fmt: skip


class PolarityTask(TextClassificationTask):
    name = "toy_polarity"

    def prepare_data(self, loaded: Any) -> Any:
        return _polarity(super().prepare_data(loaded))

    def held_out_split(self, dataset: Any) -> Any:
        from finesweep.data.prepare import prepare_dataset
        from finesweep.tasks._classification_held_out import LabelledSplit

        data = _polarity(prepare_dataset(dataset, lambda value: Path(value)))
        test = data.splits["test"]
        return LabelledSplit(list(test["text"]), list(test["label"]), data.label_names, False, data.fingerprint)


TASK = PolarityTask()
