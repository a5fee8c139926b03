"""Which MLflow store a sweep writes to, and checks that it is reachable before anything starts."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from finesweep.errors import TrackingError

DB_FILE = "mlflow.db"
ARTIFACT_DIR = "mlartifacts"


def resolve_tracking_uri(configured: str | None = None) -> str:
    """``tracking.uri`` if set, else $MLFLOW_TRACKING_URI, else a SQLite store in the working directory."""
    if configured:
        return configured
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{Path.cwd() / DB_FILE}"


def artifact_location(tracking_uri: str, experiment: str) -> str | None:
    """For a local SQLite store, artifacts go to ./mlartifacts/<experiment> beside the database."""
    if not tracking_uri.startswith("sqlite:///"):
        return None  # a server decides where artifacts live
    database = Path(tracking_uri.removeprefix("sqlite:///"))
    return (database.parent / ARTIFACT_DIR / experiment).as_uri()


def check_reachable(tracking_uri: str, timeout_s: float = 5.0) -> None:
    """Fail fast, before Ray starts, when the tracking server or the SQLite folder is unusable."""
    if tracking_uri.startswith(("http://", "https://")):
        url = tracking_uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - user's own server
                if response.status >= 400:
                    raise TrackingError(f"MLflow tracking server {tracking_uri} answered {response.status} on /health")
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TrackingError(
                f"MLflow tracking server {tracking_uri} is unreachable ({reason}); start it or set "
                "tracking.uri / MLFLOW_TRACKING_URI"
            ) from None
    elif tracking_uri.startswith("sqlite:///"):
        folder = Path(tracking_uri.removeprefix("sqlite:///")).parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise TrackingError(f"tracking.uri: folder {folder} of the SQLite store does not exist or is not writable")


def client(tracking_uri: str):
    """An MlflowClient bound to ``tracking_uri`` (no global state touched)."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def ensure_experiment(tracking_uri: str, name: str) -> str:
    """The id of experiment ``name``, created (with a local artifact folder for SQLite) if missing."""
    mlflow_client = client(tracking_uri)
    existing = mlflow_client.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    return mlflow_client.create_experiment(name, artifact_location=artifact_location(tracking_uri, name))
