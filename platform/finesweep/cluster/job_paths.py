"""Where a sweep inside a Ray job may keep its record.

Ray Jobs run the entrypoint in a temporary copy of the uploaded working directory
(``session_*/runtime_resources/working_dir_files/_ray_pkg_*`` under Ray's temp folder), which is
deleted with the session. A default ``sqlite:///./mlflow.db`` or ``./finesweep_results`` there
would hold the whole sweep, out of the MLflow UI's reach and gone when the cluster stops; such a
sweep is refused before anything starts.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

_RAY_COPY = "runtime_resources"  # a folder of every Ray session's copies of jobs' working directories


def in_ray_job(has_job_id: bool, cwd: Path | None = None) -> bool:
    """True inside a Ray job: Ray sets RAY_JOB_ID (``has_job_id``, the settings' ``in_ray_job``),
    and the working directory is Ray's copy."""
    here = str((cwd or Path.cwd()).resolve())
    return has_job_id or f"/{_RAY_COPY}/" in here


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def local_store_path(tracking_uri: str) -> Path | None:
    """The file or folder of a local MLflow store (None for a server or a database).

    SQLAlchemy's ``sqlite:///relative.db`` and ``sqlite:////absolute.db`` differ in their slashes;
    a ``file:`` URI is RFC 8089's, where ``file:///absolute/folder`` names an absolute path.
    """
    if tracking_uri.startswith("sqlite:"):
        rest = tracking_uri.removeprefix("sqlite:")
        return Path(rest.removeprefix("///")) if rest.startswith("///") else None  # sqlite:// is in memory
    if tracking_uri.startswith("file:"):
        return Path(urllib.parse.unquote(urllib.parse.urlsplit(tracking_uri).path))
    return None if "://" in tracking_uri else Path(tracking_uri)


def ephemeral_problems(tracking_uri: str, storage_path: str, cwd: Path | None = None) -> list[str]:
    """One line per location that would sit inside the job's temporary working directory ``cwd``."""
    folder = cwd or Path.cwd()
    problems = []
    local = local_store_path(tracking_uri)
    if local is not None:
        if _inside(local if local.is_absolute() else folder / local, folder):
            problems.append(
                f"tracking: the MLflow store {tracking_uri} sits inside this Ray job's temporary working directory "
                f"({folder}), which Ray deletes with its session; set MLFLOW_TRACKING_URI (or tracking.uri) to a "
                "tracking server (http://HOST:5000) or a SQLite file at an absolute path on the cluster"
            )
    if "://" not in storage_path and _inside(folder / storage_path, folder):
        problems.append(
            f"storage_path: {storage_path!r} resolves inside this Ray job's temporary working directory ({folder}); "
            "set storage_path to an absolute path every node mounts, or s3://..., or FINESWEEP_STORAGE_PATH"
        )
    return problems
