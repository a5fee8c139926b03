"""``finesweep.load_model``: a model from the registry, a run, or a local folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Union

import yaml

from finesweep.errors import ModelError
from finesweep.serving.classifier import CARD, TextClassifier

if TYPE_CHECKING:
    from finesweep.serving.encoder import TextEncoder

ServedModel = Union[TextClassifier, "TextEncoder"]


def model_folder(local: Path) -> Path:
    """The finesweep model folder inside a downloaded MLflow model (or ``local`` itself)."""
    if (local / CARD).is_file():
        return local
    mlmodel = local / "MLmodel"
    if mlmodel.is_file():
        spec = yaml.safe_load(mlmodel.read_text(encoding="utf-8"))
        artifacts = spec.get("flavors", {}).get("python_function", {}).get("artifacts", {})
        relative = artifacts.get("model_dir", {}).get("path")
        if relative and (local / relative / CARD).is_file():
            return local / relative
    raise ModelError(f"{local}: holds no finesweep model (no {CARD} and no MLmodel pointing at one)")


def is_encoder(folder: Path) -> bool:
    """Whether a finesweep model folder holds an encoder (contrastive or sparse), not a classifier."""
    from finesweep.serving.encoder import ENCODER_TASKS

    card = json.loads((folder / CARD).read_text(encoding="utf-8"))
    return card.get("task") in ENCODER_TASKS


def open_model(folder: Path, device: str | None = None, batch_size: int = 64) -> ServedModel:
    """The served form of a finesweep model folder: a TextEncoder or a TextClassifier."""
    folder = model_folder(folder)
    if is_encoder(folder):
        from finesweep.serving.encoder import TextEncoder

        return TextEncoder(folder, device=device, batch_size=batch_size)
    return TextClassifier(folder, device=device, batch_size=batch_size)


def load_model(uri: str, device: str | None = None, batch_size: int = 64, tracking_uri: str | None = None) -> ServedModel:
    """Load ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``runs:/RUN/model`` or a local folder.

    A classifier has ``predict(texts)``; an encoder ``encode(texts)`` and ``search(queries, corpus)``.
    """
    path = Path(uri).expanduser()
    if path.exists():
        return open_model(path, device=device, batch_size=batch_size)
    import mlflow

    from finesweep.tracking.store import resolve_tracking_uri

    mlflow.set_tracking_uri(resolve_tracking_uri(tracking_uri))
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    except mlflow.exceptions.MlflowException as exc:
        raise ModelError(f"cannot load {uri}: {exc.message.splitlines()[0]}") from None
    return open_model(local, device=device, batch_size=batch_size)
