"""Held-out evaluation of registered models: test-split metrics, size, latency, paired bootstrap."""

from __future__ import annotations

import contextlib
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, log_loss

from finesweep.errors import TrackingError
from finesweep.tracking.store import client


@dataclass
class TestSplit:
    """The test split a sweep held out, rebuilt from its resolved job file."""

    texts: list[str]
    labels: list[int]
    label_names: list[str]
    fingerprint: str


@dataclass
class Evaluation:
    """A model's figures on a test split."""

    metrics: dict[str, float]
    predictions: list[int]
    size_mb: float
    latency_ms: float
    extra: dict[str, Any] = field(default_factory=dict)


def resolved_job(tracking_uri: str, parent_run_id: str) -> dict[str, Any]:
    """The resolved job (``resolved/job.yaml``) a sweep's parent run recorded."""
    from finesweep.config.loader import parse_yaml_text

    with tempfile.TemporaryDirectory(prefix="finesweep-job-") as tmp:
        try:
            local = client(tracking_uri).download_artifacts(parent_run_id, "resolved/job.yaml", tmp)
            return parse_yaml_text(Path(local).read_text(encoding="utf-8"))
        except Exception as exc:  # noqa: BLE001 - MLflow raises several types for a missing artifact
            raise TrackingError(f"sweep run {parent_run_id} has no resolved/job.yaml artifact ({exc})") from None


@contextlib.contextmanager
def recorded_data(tracking_uri: str, parent_run_id: str) -> Iterator[None]:
    """Re-read a sweep's data where the sweep found it: its recorded data directory for a catalog
    dataset (no FINESWEEP_DATA_DIR needed), and only the very files it read (same sha256) for a
    user's dataset. Sweeps recorded before this record existed fall back to the environment."""
    import json

    from mlflow.exceptions import MlflowException

    from finesweep.data.catalog import recorded_data_dir
    from finesweep.files import sha256_of
    from finesweep.errors import DataError

    mlflow_client = client(tracking_uri)
    with tempfile.TemporaryDirectory(prefix="finesweep-data-source-") as tmp:
        try:
            local = mlflow_client.download_artifacts(parent_run_id, "resolved/data_source.json", tmp)
            record = json.loads(Path(local).read_text(encoding="utf-8"))
        except (MlflowException, OSError, ValueError):
            record = {}
    for name, digest in (record.get("files") or {}).items():
        path = Path(name)
        if not path.is_file():
            raise DataError(f"{path}: the sweep's data file is gone (it was read from there with sha256 {digest[:12]}...)")
        actual = sha256_of(path)
        if actual != digest:
            raise DataError(f"{path}: changed since the sweep (sha256 {actual[:12]}..., the sweep read "
                            f"{digest[:12]}...); restore it to compare on the sweep's own test split")  # fmt: skip
    folder = record.get("data_dir")
    with recorded_data_dir(Path(folder) if folder else None):
        yield


def sweep_test_split(tracking_uri: str, parent_run_id: str) -> TestSplit:
    """Re-read the sweep's data with its recorded split recipe and return the test split."""
    from finesweep.config.schema import DatasetConfig
    from finesweep.data.prepare import prepare_dataset

    dataset = DatasetConfig.model_validate(resolved_job(tracking_uri, parent_run_id)["dataset"])
    with recorded_data(tracking_uri, parent_run_id):
        data = prepare_dataset(dataset, lambda value: Path(value))
    if data.multi_label:
        raise TrackingError(
            f"{data.source} is multi-label; champion/challenger comparison is implemented for single-label "
            "classifiers only (compare multi-label trials by test_micro_f1 in the leaderboard)"
        )
    test = data.splits["test"]
    return TestSplit(list(test["text"]), list(test["label"]), data.label_names, data.fingerprint)


def folder_size_mb(folder: Path) -> float:
    """Total size of the files under ``folder`` in MiB."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def classification_metrics(labels: list[int], probabilities: np.ndarray, label_names: list[str]) -> dict[str, float]:
    """Accuracy, macro-F1, per-class F1 and log loss (the ``test_`` figures)."""
    from finesweep.tasks.text_classification import metric_key

    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)  # float32 softmax drift
    predictions = probabilities.argmax(axis=1)
    classes = list(range(len(label_names)))
    per_class = f1_score(labels, predictions, labels=classes, average=None, zero_division=0)
    metrics = {
        "test_accuracy": float(accuracy_score(labels, predictions)),
        "test_macro_f1": float(f1_score(labels, predictions, labels=classes, average="macro", zero_division=0)),
        "test_loss": float(log_loss(labels, np.clip(probabilities, 1e-12, 1.0), labels=classes)),
    }
    metrics.update({f"test_f1_{metric_key(n)}": float(v) for n, v in zip(label_names, per_class)})
    return metrics


def evaluate_classifier(classifier: Any, split: TestSplit) -> Evaluation:
    """Predict the whole test split once; latency is the mean wall time per text (ms)."""
    if list(classifier.label_names) != list(split.label_names):
        raise TrackingError(
            f"model labels {classifier.label_names} differ from the test split's {split.label_names}; "
            "models trained on different label sets cannot be compared"
        )
    started = time.perf_counter()
    probabilities = np.asarray(classifier.predict_proba(split.texts))
    latency_ms = (time.perf_counter() - started) * 1000 / max(len(split.texts), 1)
    metrics = classification_metrics(split.labels, probabilities, split.label_names)
    return Evaluation(metrics, probabilities.argmax(axis=1).tolist(), folder_size_mb(classifier.model_dir), latency_ms)


def metric_function(name: str, label_names: list[str]) -> Callable[[np.ndarray, np.ndarray], float]:
    """A function (labels, predictions) -> score for a ``test_`` metric computable from predictions."""
    from finesweep.tasks.text_classification import metric_key

    classes = list(range(len(label_names)))
    if name == "test_accuracy":
        return lambda y, p: float(np.mean(y == p))
    if name == "test_macro_f1":
        return lambda y, p: float(f1_score(y, p, labels=classes, average="macro", zero_division=0))
    for index, label in enumerate(label_names):
        if name == f"test_f1_{metric_key(label)}":
            return lambda y, p, i=index: float(f1_score(y, p, labels=[i], average="macro", zero_division=0))
    raise TrackingError(f"no bootstrap for {name}; use test_accuracy, test_macro_f1 or test_f1_<label>")


def paired_bootstrap(
    labels: list[int], challenger: list[int], champion: list[int], score: Callable, rounds: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Paired bootstrap over test examples: the difference challenger - champion and its p-value.

    ``p_value`` is the share of resamples where the challenger does not beat the champion
    (one-sided); ``ci_low``/``ci_high`` bound the difference at 95%.
    """
    y, a, b = np.asarray(labels), np.asarray(challenger), np.asarray(champion)
    rng = np.random.default_rng(seed)
    diffs = np.empty(rounds)
    for r in range(rounds):
        index = rng.integers(0, len(y), len(y))
        diffs[r] = score(y[index], a[index]) - score(y[index], b[index])
    return {
        "difference": float(score(y, a) - score(y, b)),
        "p_value": float(np.mean(diffs <= 0)),
        "ci_low": float(np.percentile(diffs, 2.5)),
        "ci_high": float(np.percentile(diffs, 97.5)),
    }
