"""Text classification, single- or multi-label: a BERT-family encoder with a classification head,
LoRA or full.

Reports every epoch: ``train_loss``, ``val_loss``, ``val_accuracy``, ``val_macro_f1`` and
``val_f1_<label>`` (scikit-learn); at the end the same on the test split with ``test_`` and, as
artifacts, a confusion matrix (PNG), the classification report and the model (safetensors).
Multi-label data (several labels per text) trains with sigmoid + binary cross-entropy and adds
``val_micro_f1`` and ``val_threshold``: the decision threshold that maximises validation micro-F1,
applied unchanged to the test split and recorded in the model card for serving.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from finesweep.errors import DataError
from finesweep.objective import MetricCatalog, MetricFamily, cost_families
from finesweep.objective.layout import MetricTable
from finesweep.tasks._label_keys import PER_LABEL, label_keys, per_label_table
from finesweep.tasks.base import SPLITS_WITH_TRAIN, Task, TrainParams

if TYPE_CHECKING:
    import torch

    from finesweep.config.loader import LoadedJob
    from finesweep.training.spec import TrialSpec
    from finesweep.data.prepare import PreparedData

THRESHOLDS = [round(0.05 * i, 2) for i in range(1, 20)]  # decision thresholds tried for multi-label (0.05 .. 0.95)


class TextClassificationParams(TrainParams):
    """Shared hyperparameters plus class balancing and label smoothing."""

    balancing: Literal["none", "oversample", "class_weight"] = Field(
        default="none",
        description="Against class imbalance in the training split: oversample resamples smaller classes up to the "
                    "largest (single-label data only); class_weight weights the loss by inverse class frequency "
                    "(multi-label: each label's positives by its negatives/positives ratio); none does neither.",
    )  # fmt: skip
    label_smoothing: float = Field(
        default=0.0, ge=0, lt=1,
        description="Label smoothing of the training loss: this share of each target is spread over the classes "
                    "(multi-label: targets 1 - s/2 and s/2); 0 turns it off.",
    )  # fmt: skip


TOKEN_CACHE = "input_ids"


def encode(tokenizer: Any, texts: list[str], max_length: int) -> list[list[int]]:
    """Token ids, truncated to ``max_length``; padding is left to each batch (dynamic)."""
    return tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]


class TextClassificationTask(Task):
    """Registered as ``text_classification``."""

    name = "text_classification"
    params_model = TextClassificationParams
    metrics = MetricCatalog((
        MetricFamily("loss", "min", "cross-entropy (binary cross-entropy for multi-label data)", SPLITS_WITH_TRAIN),
        MetricFamily("accuracy", "max", "share of texts whose predicted label set is exactly right"),
        MetricFamily("macro_f1", "max", "F1 averaged over the labels, each label counting alike"),
        MetricFamily("micro_f1", "max", "F1 over every (text, label) decision; multi-label data only"),
        MetricFamily("f1_<label>", "max", "F1 of one label (its name made MLflow-safe)"),
        *cost_families("text"),
    ))  # fmt: skip
    default_metric = "val_macro_f1"
    # each named for what it computes: for multi-label data the trivial answer is the set of the k most
    # frequent training labels (k chosen on train), not one label
    baselines = (("baseline_trivial_", "trivial (top label, or the best fixed set of top labels)"),
                 ("baseline_probe_", "frozen base + logistic regression"), ("baseline_knn_", "frozen base + kNN"))  # fmt: skip
    guard_baselines = (("baseline_trivial_", "a fixed answer from the training label counts: the model learned "
                        "nothing the label counts do not tell"),)  # fmt: skip

    def prepare_data(self, loaded: "LoadedJob") -> "PreparedData":
        from finesweep.data.prepare import prepare_dataset

        return prepare_dataset(loaded.job.dataset, loaded.resolve_path)

    def check_prepared(self, loaded: "LoadedJob", data: "PreparedData") -> None:
        if data.multi_label:
            spec = loaded.space.get("balancing")
            searched = [v for v in getattr(spec, "values", None) or [] if v == "oversample"]
            if loaded.params.balancing == "oversample" or searched:
                raise DataError(
                    f"{loaded.path}: balancing: 'oversample' needs one label per text; {data.source} is multi-label "
                    "(use none or class_weight, which weights each label's positive examples)"
                )
        keys = label_keys(data.label_names)
        for where, metric in loaded.objective_keys():
            if metric.endswith("_micro_f1") and not data.multi_label:
                raise DataError(
                    f"{loaded.path}: {where}: {metric} is reported for multi-label data; {data.source} has one "
                    "label per text, where micro-F1 equals the accuracy"
                )
            match = PER_LABEL.match(metric)
            if match and match.group(1) not in keys:
                shown = ", ".join(f"val_f1_{k}" for k in keys[:8]) + (f" and {len(keys) - 8} more" if len(keys) > 8 else "")
                raise DataError(f"{loaded.path}: {where}: no label {match.group(1)!r} in the data; per-class metrics are {shown}")

    def metric_table(self, data: "PreparedData", named: set[str]) -> MetricTable:
        """Every label's F1 in ``per_label_f1.json``; the most frequent labels' and the named ones'
        also as metrics (see :func:`per_label_table`)."""
        return per_label_table(data.label_names, data.class_counts("train"), named)

    def pretokenize(self, loaded: "LoadedJob", data: "PreparedData", tokenizer_location: str) -> None:
        """Token ids of every split, once per sweep, when ``max_length`` is not searched: trials
        then skip tokenization (shipped to workers through Ray's object store with the data)."""
        if "max_length" in loaded.space:
            return
        from transformers import AutoTokenizer

        max_length = loaded.params.max_length
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_location, trust_remote_code=loaded.job.model.trust_remote_code)
        data.extra[TOKEN_CACHE] = {
            "tokenizer": tokenizer_location,
            "max_length": max_length,
            "splits": {name: encode(tokenizer, split["text"], max_length) for name, split in data.splits.items()},
        }

    def baseline_metrics(self, loaded: "LoadedJob", data: "PreparedData", base_location: str) -> dict[str, float]:
        """The trivial baseline (the most frequent label, or the best fixed set of top labels), at once: it needs no model."""
        from finesweep.tasks._classification_baselines import LabelledSplits, trivial_baseline

        return trivial_baseline(LabelledSplits.of(data))

    def background_baselines(self, loaded: "LoadedJob", data: "PreparedData", base_location: str) -> Any:
        """The frozen-base probe and kNN (``baselines.frozen_probe``), run beside the trials."""
        from finesweep.tasks._classification_baselines import FrozenProbe, LabelledSplits

        settings = loaded.job.baselines
        if not settings.frozen_probe:
            return None
        return FrozenProbe(base_location, LabelledSplits.of(data), int(loaded.largest("max_length") or 128), settings.knn_neighbours,
                           tuple(THRESHOLDS), loaded.job.model.trust_remote_code)  # fmt: skip

    def build_runtime(self, params: Any, data: "PreparedData", spec: "TrialSpec", device: Any) -> "ClassificationRuntime":
        return ClassificationRuntime(params, data, spec, device)

    def held_out_split(self, dataset: Any) -> Any:
        """The sweep's test texts and labels (see ``_classification_held_out``)."""
        from finesweep.tasks._classification_held_out import labelled_test_split

        return labelled_test_split(dataset)

    def evaluate_held_out(self, model: Any, split: Any) -> Any:
        """Accuracy/F1 per class (single-label) or micro/macro-F1 at the model's tuned threshold
        (multi-label), size and latency per text; the bootstrap resamples texts."""
        from finesweep.tasks._classification_held_out import evaluate_classifier

        return evaluate_classifier(model, split)


def _latency(split: str, started: float, texts: int) -> dict[str, float]:
    """``latency_ms_per_text`` of a validation pass (milliseconds of forward passes per text, at the
    job's eval_batch_size); none for other splits, so the cost metric is one figure per epoch."""
    if split != "validation" or texts == 0:
        return {}
    return {"latency_ms_per_text": (time.perf_counter() - started) * 1000 / texts}


class ClassificationRuntime:
    """Worker-side state of one trial: tokenizer, model, tokenized splits and the loss."""

    def __init__(self, params: TextClassificationParams, data: "PreparedData", spec: "TrialSpec", device: Any):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding
        from transformers.utils import logging as hf_logging

        from finesweep.data.balancing import class_weights, oversample_indices
        from finesweep.models.lora import apply_lora

        hf_logging.set_verbosity_error()  # "newly initialized classifier" is expected, not news
        hf_logging.disable_progress_bar()  # a weight-loading bar per trial is noise in the sweep log
        self.params, self.data, self.device = params, data, device
        self.base = spec.base_model.as_dict()
        self.label_names = list(data.label_names)
        started = time.perf_counter()
        self.tokenizer = AutoTokenizer.from_pretrained(
            self.base["location"], trust_remote_code=spec.trust_remote_code
        )
        self.multi_label = data.multi_label
        self._threshold = 0.5  # multi-label decision threshold, tuned on each validation pass
        model = AutoModelForSequenceClassification.from_pretrained(
            self.base["location"],
            problem_type="multi_label_classification" if self.multi_label else "single_label_classification",
            num_labels=len(self.label_names),
            id2label=dict(enumerate(self.label_names)),
            label2id={name: i for i, name in enumerate(self.label_names)},
            trust_remote_code=spec.trust_remote_code,
        )
        if params.finetuning == "lora":
            model = apply_lora(
                model, "SEQ_CLS", params.lora_r, params.lora_alpha, params.lora_dropout, spec.lora_target_modules
            )
        self.model = model
        loaded = time.perf_counter()
        self._collator = DataCollatorWithPadding(self.tokenizer)
        self._encoded = self._token_ids(data)
        self.timings = {"model_load_s": loaded - started, "tokenize_s": time.perf_counter() - loaded}  # seconds
        train_labels = data.splits["train"]["label"]
        self._train_order = (
            oversample_indices(train_labels, params.seed)
            if params.balancing == "oversample"
            else list(range(len(train_labels)))
        )
        if self.multi_label:
            self._train_loss = self._bce_loss(train_labels, device)
            return
        weight = None
        if params.balancing == "class_weight":
            weight = torch.tensor(class_weights(train_labels, len(self.label_names)), dtype=torch.float32, device=device)
        self._train_loss = torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=params.label_smoothing)

    def _bce_loss(self, train_labels: list[list[int]], device: Any) -> "torch.nn.Module":
        """Sigmoid + binary cross-entropy per label; ``class_weight`` sets each label's positive weight
        to negatives/positives in the training split (capped at 100 for labels seen once or never)."""
        import torch

        pos_weight = None
        if self.params.balancing == "class_weight":
            positives = torch.tensor(self._multi_hot(train_labels)).sum(dim=0)
            pos_weight = ((len(train_labels) - positives) / positives.clamp(min=1)).clamp(max=100.0).to(device)
        return torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)

    def _multi_hot(self, labels: list[list[int]]) -> list[list[float]]:
        rows = []
        for indices in labels:
            row = [0.0] * len(self.label_names)
            for i in indices:
                row[i] = 1.0
            rows.append(row)
        return rows

    def _token_ids(self, data: "PreparedData") -> dict[str, list[list[int]]]:
        """The driver's token ids when they were made for this tokenizer and length, else tokenize here."""
        cached = data.extra.get(TOKEN_CACHE)
        if cached and cached["tokenizer"] == self.base["location"] and cached["max_length"] == self.params.max_length:
            return cached["splits"]
        return {name: encode(self.tokenizer, split["text"], self.params.max_length) for name, split in data.splits.items()}

    def _item(self, split: str, index: int) -> dict[str, Any]:
        label = self.data.splits[split]["label"][index]
        if self.multi_label:
            label = self._multi_hot([label])[0]
        return {"input_ids": self._encoded[split][index], "labels": label}

    def train_dataset(self) -> list[dict[str, Any]]:
        return [self._item("train", i) for i in self._train_order]

    def collate(self, items: list[dict[str, Any]]) -> dict[str, "torch.Tensor"]:
        return self._collator(items)

    def loss(self, model: "torch.nn.Module", batch: dict[str, "torch.Tensor"]) -> "torch.Tensor":
        labels = batch.pop("labels")
        logits = model(**batch).logits
        if self.multi_label:
            # label smoothing for binary targets: 1 -> 1 - s/2, 0 -> s/2
            labels = labels.float() * (1 - self.params.label_smoothing) + self.params.label_smoothing / 2
        return self._train_loss(logits.float(), labels)

    def _eval_batches(self, model: "torch.nn.Module", split: str) -> Iterator[tuple["torch.Tensor", "torch.Tensor"]]:
        """(float logits, labels) per evaluation batch of this worker's shard, in eval mode, no autograd."""
        import torch

        from finesweep.training.loop import shard_indices

        encoded, size = self._encoded[split], self.params.eval_batch_size
        # shortest first: batches of similar lengths pad little (metrics do not depend on the order)
        indices = sorted(shard_indices(len(encoded)), key=lambda i: len(encoded[i]))
        model.eval()
        try:
            with torch.inference_mode():
                for start in range(0, len(indices), size):
                    chunk = [self._item(split, i) for i in indices[start : start + size]]
                    batch = {k: v.to(self.device) for k, v in self.collate(chunk).items()}
                    target = batch.pop("labels")
                    yield model(**batch).logits.float(), target
        finally:
            model.train()

    def _predict(self, model: "torch.nn.Module", split: str) -> tuple[list[int], list[int], float, int]:
        import torch

        predictions, labels, loss_sum = [], [], 0.0
        for logits, target in self._eval_batches(model, split):
            loss_sum += float(torch.nn.functional.cross_entropy(logits, target, reduction="sum"))
            predictions += logits.argmax(dim=-1).tolist()
            labels += target.tolist()
        return predictions, labels, loss_sum, len(labels)

    def _predict_multilabel(self, model: "torch.nn.Module", split: str) -> tuple[list[list[float]], list[list[float]], float]:
        """Sigmoid scores, multi-hot labels and the summed per-text BCE of this worker's shard."""
        import torch

        scores, labels, loss_sum = [], [], 0.0
        for logits, target in self._eval_batches(model, split):
            target = target.float()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
            loss_sum += float(loss.mean(dim=1).sum())
            scores += torch.sigmoid(logits).cpu().tolist()
            labels += target.cpu().tolist()
        return scores, labels, loss_sum

    def _evaluate_multilabel(self, model: "torch.nn.Module", split: str, prefix: str) -> dict[str, float]:
        """Micro/macro/per-label F1 and subset accuracy at a decision threshold chosen on the validation
        split (the one maximising micro-F1) and reused unchanged on the test split."""
        import numpy as np
        from sklearn.metrics import accuracy_score, f1_score

        from finesweep.training.loop import gather_lists

        started = time.perf_counter()
        scores, labels, loss_sum = self._predict_multilabel(model, split)
        latency = _latency(split, started, len(scores))
        scores, labels = np.array(gather_lists(scores)), np.array(gather_lists(labels)).astype(int)
        totals = gather_lists([(loss_sum, len(scores))])
        if split == "validation":
            micro = [f1_score(labels, (scores >= t).astype(int), average="micro", zero_division=0) for t in THRESHOLDS]
            self._threshold = THRESHOLDS[int(np.argmax(micro))]
        predicted = (scores >= self._threshold).astype(int)
        per_label = f1_score(labels, predicted, average=None, zero_division=0)
        metrics = {
            f"{prefix}loss": sum(s for s, _ in totals) / max(sum(n for _, n in totals), 1),
            f"{prefix}accuracy": float(accuracy_score(labels, predicted)),  # exact match of the label set
            f"{prefix}micro_f1": float(f1_score(labels, predicted, average="micro", zero_division=0)),
            f"{prefix}macro_f1": float(f1_score(labels, predicted, average="macro", zero_division=0)),
            f"{prefix}threshold": self._threshold,
        }
        metrics.update({f"{prefix}f1_{k}": float(v) for k, v in zip(label_keys(self.label_names), per_label)})
        metrics.update(latency)
        if prefix == "test_":
            self._last_test = (labels, predicted)
        return metrics

    def evaluate(self, model: "torch.nn.Module", split: str, prefix: str) -> dict[str, float]:
        from sklearn.metrics import accuracy_score, f1_score

        from finesweep.training.loop import gather_lists

        if self.multi_label:
            return self._evaluate_multilabel(model, split, prefix)

        started = time.perf_counter()
        predictions, labels, loss_sum, count = self._predict(model, split)
        latency = _latency(split, started, count)
        predictions, labels = gather_lists(predictions), gather_lists(labels)
        totals = gather_lists([(loss_sum, count)])
        classes = list(range(len(self.label_names)))
        per_class = f1_score(labels, predictions, labels=classes, average=None, zero_division=0)
        metrics = {
            f"{prefix}loss": sum(s for s, _ in totals) / max(sum(n for _, n in totals), 1),
            f"{prefix}accuracy": float(accuracy_score(labels, predictions)),
            f"{prefix}macro_f1": float(f1_score(labels, predictions, labels=classes, average="macro", zero_division=0)),
        }
        metrics.update({f"{prefix}f1_{k}": float(v) for k, v in zip(label_keys(self.label_names), per_class)})
        metrics.update(latency)
        if prefix == "test_":
            self._last_test = (labels, predictions)
        return metrics

    def write_final_artifacts(self, model: "torch.nn.Module", out_dir: Path, metrics: dict[str, float]) -> None:
        """Confusion matrix PNG (single-label), classification report (txt + json) and the model."""
        from sklearn.metrics import classification_report

        labels, predictions = self._last_test
        classes = list(range(len(self.label_names)))
        if not self.multi_label:
            self._confusion_matrix_png(labels, predictions, out_dir)
        report_args = dict(labels=classes, target_names=self.label_names, zero_division=0)
        (out_dir / "classification_report.txt").write_text(classification_report(labels, predictions, **report_args))
        report = classification_report(labels, predictions, output_dict=True, **report_args)
        (out_dir / "classification_report.json").write_text(json.dumps(report, indent=2))
        self._save_model(model, out_dir / "model")

    def _confusion_matrix_png(self, labels: list[int], predictions: list[int], out_dir: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from sklearn.metrics import ConfusionMatrixDisplay

        classes = list(range(len(self.label_names)))
        display = ConfusionMatrixDisplay.from_predictions(
            labels, predictions, labels=classes, display_labels=self.label_names, xticks_rotation=45, colorbar=False
        )
        display.ax_.set_title("Test split confusion matrix")
        display.figure_.tight_layout()
        display.figure_.savefig(out_dir / "confusion_matrix.png", dpi=110)
        plt.close(display.figure_)

    def _save_model(self, model: "torch.nn.Module", model_dir: Path) -> None:
        """Adapter or full weights (safetensors), tokenizer and the model card."""
        model.save_pretrained(model_dir, safe_serialization=True)
        self.tokenizer.save_pretrained(model_dir)
        card = {
            "task": TextClassificationTask.name,
            "label_names": self.label_names,
            "finetuning": self.params.finetuning,
            "base_model": self.base,
            "params": self.params.model_dump(),
            "max_length": self.params.max_length,
            "dataset_fingerprint": self.data.fingerprint,
            "multi_label": self.multi_label,
            "threshold": self._threshold if self.multi_label else None,
        }
        (model_dir / "finesweep_model.json").write_text(json.dumps(card, indent=2))


TASK = TextClassificationTask()
