"""A trained text classifier: base model + LoRA adapter (or full weights) + tokenizer + labels.

Loads offline: the base model is found through the reference recorded at training time (an
installed model package or a local folder), falling back to its hub name in the local Hugging
Face cache. Weights load from safetensors only; nothing is unpickled.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from finesweep.errors import ModelError

CARD = "finesweep_model.json"


def read_card(model_dir: Path, required: tuple[str, ...]) -> dict[str, Any]:
    """The model card of ``model_dir``, with the keys its served form needs: a card that is not a JSON
    object, or that names a task whose keys it lacks (edited, or copied from another model), is a
    ModelError naming the folder, never a KeyError."""
    path = model_dir / CARD
    if not path.is_file():
        raise ModelError(f"{model_dir}: not a finesweep model folder (no {CARD})")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ModelError(f"{path}: not a model card ({type(error).__name__}: {str(error)[:120]})") from None
    if not isinstance(card, dict):
        raise ModelError(f"{path}: not a model card (a JSON object is expected, found {type(card).__name__})")
    missing = [key for key in required if key not in card]
    if missing:
        raise ModelError(f"{path}: names task {card.get('task')!r} but lacks {', '.join(missing)}: "
                         "the card does not belong to these weights, or was edited")  # fmt: skip
    return card


def base_location(base: dict[str, Any]) -> str:
    from finesweep.models.resolve import resolve_base_model

    for reference in (base.get("reference"), base.get("location")):
        if not reference:
            continue
        try:
            resolved = resolve_base_model(reference)
        except ModelError:
            continue
        if resolved.kind != "hub":
            return resolved.location
    if base.get("hub_name"):
        return base["hub_name"]
    raise ModelError(f"base model {base.get('reference')!r} is not installed here and has no hub name")


class TextClassifier:
    """Predicts labels and class probabilities for texts, in batches, on CPU or GPU."""

    def __init__(self, model_dir: str | Path, device: str | None = None, batch_size: int = 64):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()  # "Loading weights" bars would mix into predict's output
        warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
        self.model_dir = Path(model_dir)
        self.card = read_card(self.model_dir, ("label_names", "base_model"))
        self.label_names: list[str] = list(self.card["label_names"])
        self.multi_label = bool(self.card.get("multi_label"))
        self.threshold = float(self.card.get("threshold") or 0.5)  # multi-label decision threshold
        self.max_length = int(self.card.get("max_length", 128))
        self.batch_size = batch_size
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        labels = {"id2label": dict(enumerate(self.label_names)), "label2id": {n: i for i, n in enumerate(self.label_names)}}
        if self.card.get("finetuning") == "lora":
            from peft import PeftModel

            problem = "multi_label_classification" if self.multi_label else "single_label_classification"
            base = AutoModelForSequenceClassification.from_pretrained(
                base_location(self.card["base_model"]), num_labels=len(self.label_names), problem_type=problem, **labels
            )
            model = PeftModel.from_pretrained(base, self.model_dir).merge_and_unload()
        else:
            model = AutoModelForSequenceClassification.from_pretrained(self.model_dir, use_safetensors=True)
        self.model = model.to(self.device).eval()

    def predict_proba(self, texts: list[str]) -> list[list[float]]:
        """Class probabilities per text, in ``label_names`` order (independent per label when
        multi-label, else summing to 1)."""
        import torch

        out: list[list[float]] = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = self.tokenizer(
                    list(texts[start : start + self.batch_size]),
                    truncation=True,
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                ).to(self.device)
                logits = self.model(**batch).logits.float()
                out += (torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)).cpu().tolist()
        return out

    def predict(self, texts: list[str]) -> list[dict[str, Any]]:
        """``{"text", "label", "confidence", "scores"}`` per text; multi-label models add ``labels``,
        every label whose score reaches the threshold tuned on validation data."""
        results = []
        for text, probabilities in zip(texts, self.predict_proba(texts)):
            best = max(range(len(probabilities)), key=probabilities.__getitem__)
            result = {
                "text": text,
                "label": self.label_names[best],
                "confidence": probabilities[best],
                "scores": dict(zip(self.label_names, probabilities)),
            }
            if self.multi_label:
                result["labels"] = [n for n, p in zip(self.label_names, probabilities) if p >= self.threshold]
            results.append(result)
        return results
