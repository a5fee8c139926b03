"""Where a sweep inside a Ray job may keep its record.

Ray Jobs run the entrypoint in a temporary copy of the uploaded working directory
(``session_*/runtime_resources/working_dir_files/_ray_pkg_*`` under Ray's temp folder), which is
deleted with the session. A default ``sqlite:///./mlflow.db`` or ``./finesweep_results`` there
would hold the whole sweep, out of the MLflow UI's reach and gone when the cluster stops; such a
sweep is refused before anything starts.
"""

from __future__ import annotations

import os
from pathlib import Path

_RAY_COPY = "runtime_resources"  # a folder of every Ray session's copies of jobs' working directories


def in_ray_job(cwd: Path | None = None) -> bool:
    """True inside a Ray job: Ray sets RAY_JOB_ID, and the working directory is Ray's copy."""
    here = str((cwd or Path.cwd()).resolve())
    return bool(os.environ.get("RAY_JOB_ID")) or f"/{_RAY_COPY}/" in here


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def ephemeral_problems(tracking_uri: str, storage_path: str, cwd: Path | None = None) -> list[str]:
    """One line per location that would sit inside the job's temporary working directory ``cwd``."""
    folder = cwd or Path.cwd()
    problems = []
    if tracking_uri.startswith(("sqlite:", "file:")) or "://" not in tracking_uri:
        local = Path(tracking_uri.split(":///", 1)[1] if ":///" in tracking_uri else tracking_uri.removeprefix("file:"))
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
