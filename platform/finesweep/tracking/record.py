"""What a sweep recorded about itself, read back: its resolved job file and where its data came from."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any, Iterator

from finesweep.errors import TrackingError
from finesweep.tracking.store import client


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
