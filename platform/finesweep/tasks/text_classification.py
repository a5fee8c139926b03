"""Single-label text classification: a BERT-family encoder with a classification head, LoRA or full.

Reports every epoch: ``train_loss``, ``val_loss``, ``val_accuracy``, ``val_macro_f1`` and
``val_f1_<label>`` (scikit-learn); at the end the same on the test split with ``test_`` and, as
artifacts, a confusion matrix (PNG), the classification report and the model (safetensors).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from finesweep.errors import DataError
from finesweep.tasks.base import Task, TrainParams

if TYPE_CHECKING:
    import torch

    from finesweep.config.loader import LoadedJob
    from finesweep.data.prepare import PreparedData

_FIXED_METRICS = {"val_loss": "min", "val_accuracy": "max", "val_macro_f1": "max", "train_loss": "min"}
_PER_CLASS = re.compile(r"^val_f1_(.+)$")


class TextClassificationParams(TrainParams):
    """Shared hyperparameters plus class balancing and label smoothing."""

    balancing: Literal["none", "oversample", "class_weight"] = "none"
    label_smoothing: float = Field(default=0.0, ge=0, lt=1)


TOKEN_CACHE = "input_ids"


def encode(tokenizer: Any, texts: list[str], max_length: int) -> list[list[int]]:
    """Token ids, truncated to ``max_length``; padding is left to each batch (dynamic)."""
    return tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]


def metric_key(label: str) -> str:
    """The MLflow-safe metric suffix for a label name (``val_f1_<key>``)."""
    return re.sub(r"[^0-9A-Za-z_\-.]", "_", label)


class TextClassificationTask(Task):
    """Registered as ``text_classification``."""

    name = "text_classification"
    params_model = TextClassificationParams

    def check_metric(self, metric: str, mode: str) -> str | None:
        if metric in _FIXED_METRICS:
            if _FIXED_METRICS[metric] != mode:
                return f"{metric} should be {'maximised' if _FIXED_METRICS[metric] == 'max' else 'minimised'}; set search.mode: {_FIXED_METRICS[metric]} (got mode {mode!r})"
            return None
        if _PER_CLASS.match(metric):
            return None if mode == "max" else f"{metric} should be maximised; set search.mode: max (got {mode!r})"
        allowed = ", ".join([*sorted(_FIXED_METRICS), "val_f1_<label>"])
        return f"unknown metric for text_classification (got {metric!r}); allowed: {allowed}"

    def prepare_data(self, loaded: "LoadedJob") -> "PreparedData":
        from finesweep.data.prepare import prepare_dataset

        return prepare_dataset(loaded.job.dataset, loaded.resolve_path)

    def check_prepared(self, loaded: "LoadedJob", data: "PreparedData") -> None:
        match = _PER_CLASS.match(loaded.job.search.metric)
        keys = [metric_key(name) for name in data.label_names]
        if match and match.group(1) not in keys:
            raise DataError(
                f"{loaded.path}: search.metric: no label {match.group(1)!r} in the data; per-class metrics are "
                + ", ".join(f"val_f1_{k}" for k in keys)
            )

    def pretokenize(self, loaded: "LoadedJob", data: "PreparedData", tokenizer_location: str) -> None:
        """Token ids of every split, once per sweep, when ``max_length`` is not searched: trials
        then skip tokenization (shipped to workers through Ray's object store with the data)."""
        if "max_length" in loaded.space:
            return
        from transformers import AutoTokenizer

        max_length = loaded.params.max_length
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_location)
        data.extra[TOKEN_CACHE] = {
            "tokenizer": tokenizer_location,
            "max_length": max_length,
            "splits": {name: encode(tokenizer, split["text"], max_length) for name, split in data.splits.items()},
        }

    def build_runtime(self, params: Any, data: "PreparedData", config: dict[str, Any], device: Any) -> "ClassificationRuntime":
        return ClassificationRuntime(params, data, config, device)


class ClassificationRuntime:
    """Worker-side state of one trial: tokenizer, model, tokenized splits and the loss."""

    def __init__(self, params: TextClassificationParams, data: "PreparedData", config: dict[str, Any], device: Any):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding
        from transformers.utils import logging as hf_logging

        from finesweep.data.balancing import class_weights, oversample_indices
        from finesweep.models.lora import apply_lora

        hf_logging.set_verbosity_error()  # "newly initialized classifier" is expected, not news
        self.params, self.data, self.device = params, data, device
        self.base = config["base_model"]
        self.label_names = list(data.label_names)
        started = time.perf_counter()
        self.tokenizer = AutoTokenizer.from_pretrained(self.base["location"])
        model = AutoModelForSequenceClassification.from_pretrained(
            self.base["location"],
            num_labels=len(self.label_names),
            id2label=dict(enumerate(self.label_names)),
            label2id={name: i for i, name in enumerate(self.label_names)},
            trust_remote_code=config.get("trust_remote_code", False),
        )
        if params.finetuning == "lora":
            model = apply_lora(
                model, "SEQ_CLS", params.lora_r, params.lora_alpha, params.lora_dropout, config["lora_target_modules"]
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
        weight = None
        if params.balancing == "class_weight":
            weight = torch.tensor(class_weights(train_labels, len(self.label_names)), dtype=torch.float32, device=device)
        self._train_loss = torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=params.label_smoothing)

    def _token_ids(self, data: "PreparedData") -> dict[str, list[list[int]]]:
        """The driver's token ids when they were made for this tokenizer and length, else tokenize here."""
        cached = data.extra.get(TOKEN_CACHE)
        if cached and cached["tokenizer"] == self.base["location"] and cached["max_length"] == self.params.max_length:
            return cached["splits"]
        return {name: encode(self.tokenizer, split["text"], self.params.max_length) for name, split in data.splits.items()}

    def _item(self, split: str, index: int) -> dict[str, Any]:
        return {"input_ids": self._encoded[split][index], "labels": self.data.splits[split]["label"][index]}

    def train_dataset(self) -> list[dict[str, Any]]:
        return [self._item("train", i) for i in self._train_order]

    def collate(self, items: list[dict[str, Any]]) -> dict[str, "torch.Tensor"]:
        return self._collator(items)

    def loss(self, model: "torch.nn.Module", batch: dict[str, "torch.Tensor"]) -> "torch.Tensor":
        labels = batch.pop("labels")
        logits = model(**batch).logits
        return self._train_loss(logits.float(), labels)

    def _predict(self, model: "torch.nn.Module", split: str) -> tuple[list[int], list[int], float, int]:
        import torch

        from finesweep.training.loop import shard_indices

        # shortest first: batches of similar lengths pad little (metrics do not depend on the order)
        indices = sorted(shard_indices(len(self._encoded[split])), key=lambda i: len(self._encoded[split][i]))
        predictions, labels, loss_sum = [], [], 0.0
        model.eval()
        with torch.inference_mode():
            for start in range(0, len(indices), self.params.eval_batch_size):
                chunk = [self._item(split, i) for i in indices[start : start + self.params.eval_batch_size]]
                batch = {k: v.to(self.device) for k, v in self.collate(chunk).items()}
                target = batch.pop("labels")
                logits = model(**batch).logits.float()
                loss_sum += float(torch.nn.functional.cross_entropy(logits, target, reduction="sum"))
                predictions += logits.argmax(dim=-1).tolist()
                labels += target.tolist()
        model.train()
        return predictions, labels, loss_sum, len(indices)

    def evaluate(self, model: "torch.nn.Module", split: str, prefix: str) -> dict[str, float]:
        from sklearn.metrics import accuracy_score, f1_score

        from finesweep.training.loop import gather_lists

        predictions, labels, loss_sum, count = self._predict(model, split)
        predictions, labels = gather_lists(predictions), gather_lists(labels)
        totals = gather_lists([(loss_sum, count)])
        classes = list(range(len(self.label_names)))
        per_class = f1_score(labels, predictions, labels=classes, average=None, zero_division=0)
        metrics = {
            f"{prefix}loss": sum(s for s, _ in totals) / max(sum(n for _, n in totals), 1),
            f"{prefix}accuracy": float(accuracy_score(labels, predictions)),
            f"{prefix}macro_f1": float(f1_score(labels, predictions, labels=classes, average="macro", zero_division=0)),
        }
        metrics.update({f"{prefix}f1_{metric_key(n)}": float(v) for n, v in zip(self.label_names, per_class)})
        if prefix == "test_":
            self._last_test = (labels, predictions)
        return metrics

    def write_final_artifacts(self, model: "torch.nn.Module", out_dir: Path, metrics: dict[str, float]) -> None:
        """Confusion matrix PNG, classification report (txt + json) and the model, into ``out_dir``."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from sklearn.metrics import ConfusionMatrixDisplay, classification_report

        labels, predictions = self._last_test
        classes = list(range(len(self.label_names)))
        display = ConfusionMatrixDisplay.from_predictions(
            labels, predictions, labels=classes, display_labels=self.label_names, xticks_rotation=45, colorbar=False
        )
        display.ax_.set_title("Test split confusion matrix")
        display.figure_.tight_layout()
        display.figure_.savefig(out_dir / "confusion_matrix.png", dpi=110)
        plt.close(display.figure_)
        report_args = dict(labels=classes, target_names=self.label_names, zero_division=0)
        (out_dir / "classification_report.txt").write_text(classification_report(labels, predictions, **report_args))
        report = classification_report(labels, predictions, output_dict=True, **report_args)
        (out_dir / "classification_report.json").write_text(json.dumps(report, indent=2))
        model_dir = out_dir / "model"
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
        }
        (model_dir / "finesweep_model.json").write_text(json.dumps(card, indent=2))


TASK = TextClassificationTask()
