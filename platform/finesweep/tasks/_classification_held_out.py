"""Held-out evaluation of a served text classifier (single- or multi-label) for promotion.

Single-label: accuracy, macro-F1, per-class F1 and log loss of the argmax prediction. Multi-label:
micro- and macro-F1, subset accuracy, per-label F1 and binary cross-entropy, at the decision
threshold the model card carries (tuned on validation during the sweep, never on the test split).
The paired bootstrap resamples texts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, log_loss

from finesweep.errors import TrackingError
from finesweep.files import folder_size_mb
from finesweep.tasks._label_keys import label_keys
from finesweep.tasks.base import HeldOut


@dataclass(frozen=True)
class LabelledSplit:
    """A sweep's test split: texts and their label index (single-label) or indices (multi-label)."""

    texts: list[str]
    labels: list[Any]
    label_names: list[str]
    multi_label: bool
    fingerprint: str


def labelled_test_split(dataset: Any) -> LabelledSplit:
    """Re-read the sweep's data with its recorded split recipe; return the test split."""
    from finesweep.data.prepare import prepare_dataset

    data = prepare_dataset(dataset, lambda value: Path(value))
    test = data.splits["test"]
    return LabelledSplit(list(test["text"]), list(test["label"]), data.label_names, data.multi_label, data.fingerprint)


def evaluate_classifier(classifier: Any, split: LabelledSplit) -> HeldOut:
    """Predict the whole split once (latency: mean wall time per text, ms) and score it."""
    if list(classifier.label_names) != list(split.label_names):
        raise TrackingError(
            f"model labels {classifier.label_names} differ from the test split's {split.label_names}; "
            "models trained on different label sets cannot be compared"
        )
    started = time.perf_counter()
    probabilities = np.asarray(classifier.predict_proba(split.texts), dtype=np.float64)
    latency = (time.perf_counter() - started) * 1000 / max(len(split.texts), 1)
    score, names = (_multi_label(split, probabilities, classifier.threshold) if split.multi_label
                    else _single_label(split, probabilities))  # fmt: skip
    everything = np.arange(len(split.texts))
    metrics = {name: score(name, everything) for name in names}
    if split.multi_label:
        targets = _indicator(split.labels, len(split.label_names))
        clipped = np.clip(probabilities, 1e-12, 1 - 1e-12)
        # binary cross-entropy averaged over labels, then texts: the sweep's test_loss
        metrics["test_loss"] = float(-(targets * np.log(clipped) + (1 - targets) * np.log(1 - clipped)).mean())
    else:
        normalised = probabilities / probabilities.sum(axis=1, keepdims=True)  # float32 softmax drift
        metrics["test_loss"] = float(log_loss(split.labels, np.clip(normalised, 1e-12, 1.0), labels=list(range(len(split.label_names)))))
    return HeldOut(metrics, len(split.texts), "text", folder_size_mb(classifier.model_dir),
                   {"latency_ms_per_text": latency}, score, tuple(names))  # fmt: skip


def _per_label_names(label_names: list[str]) -> list[str]:
    return [f"test_f1_{key}" for key in label_keys(label_names)]


def _single_label(split: LabelledSplit, probabilities: np.ndarray) -> tuple[Callable[[str, np.ndarray], float], list[str]]:
    labels, predicted = np.asarray(split.labels), probabilities.argmax(axis=1)
    classes = list(range(len(split.label_names)))
    per_label = dict(zip(_per_label_names(split.label_names), classes))

    def score(metric: str, rows: np.ndarray) -> float:
        y, p = labels[rows], predicted[rows]
        if metric == "test_accuracy":
            return float(np.mean(y == p))
        if metric == "test_macro_f1":
            return float(f1_score(y, p, labels=classes, average="macro", zero_division=0))
        return float(f1_score(y, p, labels=[per_label[metric]], average="macro", zero_division=0))

    return score, ["test_accuracy", "test_macro_f1", *per_label]


def _indicator(labels: list[Any], width: int) -> np.ndarray:
    """Texts x labels, 1 where the text carries the label."""
    matrix = np.zeros((len(labels), width), dtype=int)
    for row, indices in enumerate(labels):
        matrix[row, list(indices)] = 1
    return matrix


def _multi_label(split: LabelledSplit, probabilities: np.ndarray, threshold: float) -> tuple[Callable[[str, np.ndarray], float], list[str]]:
    targets = _indicator(split.labels, len(split.label_names))
    predicted = (probabilities >= threshold).astype(int)
    per_label = dict(zip(_per_label_names(split.label_names), range(len(split.label_names))))

    def score(metric: str, rows: np.ndarray) -> float:
        y, p = targets[rows], predicted[rows]
        if metric == "test_accuracy":  # the whole label set right
            return float(accuracy_score(y, p))
        if metric in ("test_micro_f1", "test_macro_f1"):
            return float(f1_score(y, p, average=metric.split("_")[1], zero_division=0))
        column = per_label[metric]
        return float(f1_score(y[:, column], p[:, column], zero_division=0))

    return score, ["test_micro_f1", "test_macro_f1", "test_accuracy", *per_label]
