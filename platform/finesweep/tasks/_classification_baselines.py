"""What a classification sweep is judged against: baselines on the sweep's own splits, named
``baseline_<name>_val_<metric>`` and ``baseline_<name>_test_<metric>``, tags on its parent run
(see :mod:`finesweep.tracking.baselines` for why tags).

- ``trivial``: no model. Single-label: always the training split's most frequent class.
  Multi-label: always the k most frequent training labels, k chosen on the training split for its
  micro-F1 (k = 1 is "always neutral" on GoEmotions).
- ``probe``: the frozen base model's mean-pooled, L2-normalised embeddings and a logistic
  regression (scikit-learn) trained on them: what the base model knows before fine-tuning.
- ``knn``: the same embeddings and a k-nearest-neighbour vote, the comparison seed 001 runs.

The trivial baseline is computed on the driver at once; the two frozen ones need the base model
over every text, so they run beside the trials (see ``tuning/_background.py``). Multi-label probes
pick their decision threshold on the validation split and reuse it on the test split, as the
trials do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# the probe's training texts at most: a logistic regression on 20,000 embeddings fits in seconds;
# beyond that the probe would cost more than it tells
PROBE_MAX_TRAIN_TEXTS = 20_000
SPLIT_PREFIXES = (("validation", "val_"), ("test", "test_"))
BASELINE_NAMES = {"trivial": "trivial (top label, or the best fixed set of top labels)",
                  "probe": "frozen probe (logistic regression)", "knn": "frozen kNN"}  # fmt: skip


@dataclass(frozen=True)
class LabelledSplits:
    """Texts and labels of the three splits (label indices; lists of them when multi-label)."""

    texts: dict[str, list[str]]
    labels: dict[str, list[Any]]
    n_labels: int
    multi_label: bool

    @classmethod
    def of(cls, data: Any) -> "LabelledSplits":
        """From a PreparedData."""
        splits = ("train", "validation", "test")
        return cls({s: list(data.splits[s]["text"]) for s in splits}, {s: list(data.splits[s]["label"]) for s in splits},
                   len(data.label_names), bool(data.multi_label))  # fmt: skip

    def targets(self, split: str) -> np.ndarray:
        """Class indices (single-label) or a 0/1 indicator matrix (multi-label)."""
        if not self.multi_label:
            return np.asarray(self.labels[split], dtype=np.int64)
        matrix = np.zeros((len(self.labels[split]), self.n_labels), dtype=np.int64)
        for row, indices in enumerate(self.labels[split]):
            matrix[row, list(indices)] = 1
        return matrix


def scores(truth: np.ndarray, predicted: np.ndarray, splits: LabelledSplits, prefix: str) -> dict[str, float]:
    """The sweep's aggregate metrics of ``predicted`` (accuracy, macro-F1 and, multi-label, micro-F1),
    defined as the task defines them."""
    from sklearn.metrics import accuracy_score, f1_score

    if splits.multi_label:
        return {f"{prefix}accuracy": float(accuracy_score(truth, predicted)),
                f"{prefix}micro_f1": float(f1_score(truth, predicted, average="micro", zero_division=0)),
                f"{prefix}macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0))}  # fmt: skip
    classes = list(range(splits.n_labels))
    return {f"{prefix}accuracy": float(accuracy_score(truth, predicted)),
            f"{prefix}macro_f1": float(f1_score(truth, predicted, labels=classes, average="macro", zero_division=0))}  # fmt: skip


def _named(name: str, figures: dict[str, float]) -> dict[str, float]:
    return {f"baseline_{name}_{key}": value for key, value in figures.items()}


def trivial_baseline(splits: LabelledSplits) -> dict[str, float]:
    """Always the most frequent training class (or the best-on-train set of most frequent labels)."""
    train = splits.targets("train")
    if splits.multi_label:
        order = np.argsort(-train.sum(axis=0), kind="stable")
        answer = max((_top_labels(order[:k], splits.n_labels) for k in range(1, splits.n_labels + 1)),
                     key=lambda row: _micro_f1(train, row))  # fmt: skip
    else:
        answer = np.bincount(train, minlength=splits.n_labels).argmax()
    figures = {}
    for split, prefix in SPLIT_PREFIXES:
        truth = splits.targets(split)
        predicted = np.tile(answer, (len(truth), 1)) if splits.multi_label else np.full(len(truth), answer)
        figures.update(scores(truth, predicted, splits, prefix))
    return _named("trivial", figures)


def _top_labels(indices: np.ndarray, n_labels: int) -> np.ndarray:
    row = np.zeros(n_labels, dtype=np.int64)
    row[indices] = 1
    return row


def _micro_f1(truth: np.ndarray, row: np.ndarray) -> float:
    """Micro-F1 of answering ``row`` for every text, in closed form (no matrix of copies)."""
    hits = float(truth[:, row == 1].sum())
    predicted, actual = float(row.sum()) * len(truth), float(truth.sum())
    return 2 * hits / (predicted + actual) if predicted + actual else 0.0


@dataclass(frozen=True)
class FrozenProbe:
    """The frozen-base baselines of one sweep: picklable, so that a Ray task runs it."""

    base_location: str
    splits: LabelledSplits
    max_length: int
    neighbours: int
    thresholds: tuple[float, ...]
    trust_remote_code: bool = False

    def __call__(self) -> dict[str, float]:
        """``baseline_probe_*`` and ``baseline_knn_*`` figures, plus ``system/baseline_probe_time_s``."""
        import time

        from transformers import AutoModel, AutoTokenizer

        started = time.perf_counter()
        tokenizer = AutoTokenizer.from_pretrained(self.base_location, trust_remote_code=self.trust_remote_code)
        model = AutoModel.from_pretrained(self.base_location, trust_remote_code=self.trust_remote_code).eval()
        features = {split: self._embed(tokenizer, model, texts) for split, texts in self._texts().items()}
        figures = _named("probe", self._logistic(features)) | _named("knn", self._knn(features))
        figures["system/baseline_probe_time_s"] = time.perf_counter() - started  # seconds, embeddings included
        return figures

    def _texts(self) -> dict[str, list[str]]:
        texts = dict(self.splits.texts)
        texts["train"] = texts["train"][:PROBE_MAX_TRAIN_TEXTS]  # already shuffled by the split
        return texts

    def _train_targets(self) -> np.ndarray:
        return self.splits.targets("train")[:PROBE_MAX_TRAIN_TEXTS]

    def _embed(self, tokenizer: Any, model: Any, texts: list[str]) -> np.ndarray:
        """Mean-pooled last hidden states over real tokens, L2-normalised; float32, (texts, hidden)."""
        import torch

        from finesweep.tasks.contrastive_embedding import mean_pool  # the dense encoder's own pooling

        rows = []
        with torch.inference_mode():
            for start in range(0, len(texts), 64):  # 64 texts a batch
                batch = tokenizer(texts[start:start + 64], truncation=True, max_length=self.max_length, padding=True,
                                  return_tensors="pt")  # fmt: skip
                rows.append(mean_pool(model, batch["input_ids"], batch["attention_mask"]).numpy())
        return np.concatenate(rows) if rows else np.zeros((0, 1), dtype=np.float32)

    def _logistic(self, features: dict[str, np.ndarray]) -> dict[str, float]:
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier

        train = self._train_targets()
        if not self.splits.multi_label:
            model = LogisticRegression(max_iter=2000).fit(features["train"], train)
            return self._scored({s: model.predict(features[s]) for s, _ in SPLIT_PREFIXES})
        present = train.sum(axis=0) > 0  # a label never seen in training is never predicted
        model = OneVsRestClassifier(LogisticRegression(max_iter=2000)).fit(features["train"], train[:, present])
        probabilities = {}
        for split, _ in SPLIT_PREFIXES:
            full = np.zeros((len(features[split]), self.splits.n_labels))
            full[:, present] = model.predict_proba(features[split])
            probabilities[split] = full
        return self._thresholded(probabilities)

    def _knn(self, features: dict[str, np.ndarray]) -> dict[str, float]:
        from sklearn.neighbors import KNeighborsClassifier

        train = self._train_targets()
        model = KNeighborsClassifier(n_neighbors=min(self.neighbours, len(train))).fit(features["train"], train)
        if not self.splits.multi_label:
            return self._scored({s: model.predict(features[s]) for s, _ in SPLIT_PREFIXES})
        # multi-label: the share of neighbours carrying each label, thresholded as the probe is
        return self._thresholded({s: _positive_share(model.predict_proba(features[s]), model.classes_) for s, _ in SPLIT_PREFIXES})

    def _thresholded(self, probabilities: dict[str, np.ndarray]) -> dict[str, float]:
        """Multi-label decisions at the threshold that maximises validation micro-F1, reused on test."""
        from sklearn.metrics import f1_score

        truth = self.splits.targets("validation")
        best = max(self.thresholds, key=lambda t: f1_score(truth, (probabilities["validation"] >= t).astype(int),
                                                            average="micro", zero_division=0))  # fmt: skip
        return self._scored({s: (p >= best).astype(int) for s, p in probabilities.items()})

    def _scored(self, predictions: dict[str, np.ndarray]) -> dict[str, float]:
        figures = {}
        for split, prefix in SPLIT_PREFIXES:
            figures.update(scores(self.splits.targets(split), predictions[split], self.splits, prefix))
        return figures


def _positive_share(per_label: list[np.ndarray], classes: list[np.ndarray]) -> np.ndarray:
    """scikit-learn's multi-output predict_proba (one (texts, classes seen) array per label) as the
    share of neighbours carrying each label; a label seen with one value only has one column."""
    columns = []
    for probabilities, seen in zip(per_label, classes):
        positive = np.flatnonzero(np.asarray(seen) == 1)
        columns.append(probabilities[:, positive[0]] if len(positive) else np.zeros(len(probabilities)))
    return np.stack(columns, axis=1)
