"""``finesweep.load_model``: a model from the registry, a run, or a local folder."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import yaml

from finesweep.errors import ModelError
from finesweep.serving.classifier import CARD, TextClassifier, read_card
from finesweep.settings import Settings, in_use, using

if TYPE_CHECKING:
    from finesweep.serving.encoder import TextEncoder
    from finesweep.tasks.base import Task

ServedModel = Union[TextClassifier, "TextEncoder"]  # what the shipped tasks serve


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


def served_task(folder: Path) -> "Task":
    """The task that trained the model in ``folder`` (its card's ``task``)."""
    from finesweep.tasks import get_task, task_names

    task = read_card(folder, ()).get("task", "text_classification")
    if task not in task_names():
        raise ModelError(f"{folder}: a {task!r} model; this finesweep serves {', '.join(task_names())}")
    return get_task(task)


def open_model(folder: Path, device: str | None = None, batch_size: int = 64) -> Any:
    """The served form of a finesweep model folder, as its task names it (``Task.served_by``):
    a TextClassifier, a TextEncoder, ..."""
    folder = model_folder(folder)
    module, _, name = served_task(folder).served_by.partition(":")
    served = getattr(importlib.import_module(module), name)
    return served(folder, device=device, batch_size=batch_size)


def load_model(uri: str, device: str | None = None, batch_size: int = 64, tracking_uri: str | None = None,
               settings: Settings | None = None) -> ServedModel:  # fmt: skip
    """Load ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, a trial's ``models:/m-ID``, ``runs:/RUN/PATH``
    (runs recorded before trials logged their models as MLflow models) or a local folder.

    A classifier has ``predict(texts)``; an encoder ``encode(texts)`` and ``search(queries, corpus)``.
    ``settings`` (default: those in use, :func:`finesweep.settings.in_use`) give the store when
    ``tracking_uri`` is None, and an encoder's index cache.
    """
    settings = settings or in_use()
    with using(settings):  # the encoder's index cache, built through the task's served_by hook
        path = Path(uri).expanduser()
        if path.exists():
            return open_model(path, device=device, batch_size=batch_size)
        return open_model(download_model(uri, settings.tracking_store(tracking_uri)), device=device,
                          batch_size=batch_size)  # fmt: skip


def download_model(uri: str, tracking_uri: str) -> Path:
    """A local copy of ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``models:/m-ID`` or
    ``runs:/RUN/PATH``, resolved through a client of ``tracking_uri`` (its registry too): MLflow's
    global tracking URI is neither read nor changed."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    store = tracking_uri
    mlflow_client = MlflowClient(tracking_uri=store, registry_uri=store)
    try:
        location = _artifact_location(mlflow_client, uri)
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=location, tracking_uri=store))
    except MlflowException as exc:
        raise ModelError(f"cannot load {uri}: {exc.message.splitlines()[0]}") from None


def _artifact_location(mlflow_client: Any, uri: str) -> str:
    """Where the model's files are: a registry name resolved to its version's source, a logged
    model to its artifact location, a run path to the run's artifact location."""
    source = uri
    if uri.startswith("models:/") and not uri.startswith("models:/m-"):
        reference = uri.removeprefix("models:/")
        if "@" in reference:
            name, alias = reference.split("@", 1)
            version = mlflow_client.get_model_version_by_alias(name, alias)
        else:
            name, _, number = reference.partition("/")
            version = mlflow_client.get_model_version(name, number)
        source = version.source
    if source.startswith("models:/m-"):
        return mlflow_client.get_logged_model(source.removeprefix("models:/").split("/")[0]).artifact_location
    if source.startswith("runs:/"):
        run_id, _, inner = source.removeprefix("runs:/").partition("/")
        return f"{mlflow_client.get_run(run_id).info.artifact_uri.rstrip('/')}/{inner}"
    return source
