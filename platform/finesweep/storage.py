"""Where a sweep keeps its results: a local folder, or an object store (``s3://bucket/prefix``,
``gs://bucket/prefix``) that every node of a cluster reaches.

A location is a local :class:`~pathlib.Path` or an object-store URI string. Ray is handed a
``pyarrow.fs.FileSystem`` and the scheme-less path on it (``bucket/prefix``); Tune's experiment
state, every checkpoint and each trial's files then live there, and the sweep driver reads a
finished trial's checkpoint back from there, never from a worker's disk.

Credentials never appear in a location: the endpoint, the region and the keys come from the
environment (``AWS_ENDPOINT_URL``, ``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID``, ...,
``GOOGLE_APPLICATION_CREDENTIALS``) or the machine's instance role, which pyarrow reads itself. A
URI holding credentials or query options is refused by the job's schema (:func:`uri_problem`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

from finesweep.errors import SweepError
from finesweep.redact import redact

# Object stores pyarrow (and so Ray) reads and writes; each name maps to what the user knows it as.
SCHEMES = {"s3": "Amazon S3 or an S3-compatible store", "gs": "Google Cloud Storage", "gcs": "Google Cloud Storage"}
_URI = re.compile(r"^(?P<scheme>[a-zA-Z][\w+.-]*)://")
_MANIFEST = "manifest.json"  # training.checkpoint.MANIFEST, without importing torch
# The preflight's own short limits: an unreachable endpoint or a missing bucket is refused in
# seconds, not after the SDK's default retries (about 6 s per request against a closed port).
_CONNECT_TIMEOUT_S = 3.0
_REQUEST_TIMEOUT_S = 5.0
_GCS_RETRY_LIMIT_S = 10.0


def is_object_store(location: str | Path) -> bool:
    """True when ``location`` is a URI (``scheme://...``) rather than a local path."""
    return isinstance(location, str) and _URI.match(location) is not None


def uri_problem(storage_path: str) -> str | None:
    """Why ``storage_path`` cannot be used as written (None for a local path or a usable URI).

    Refused: schemes pyarrow's object stores do not cover, credentials in the URI (they would be
    recorded in MLflow and Tune's state), query options, a URI without a bucket, and a prefix with
    ``.``, ``..`` or empty segments.
    """
    match = _URI.match(storage_path)
    if match is None:
        return None
    scheme = match["scheme"].lower()
    parts = urlsplit(storage_path)
    shown = _without_userinfo(storage_path)
    allowed = ", ".join(f"{name}://bucket/prefix" for name in ("s3", "gs"))
    if scheme not in SCHEMES:
        return f"unsupported scheme {scheme!r}; allowed: a local folder, {allowed} (got {shown!r})"
    if "@" in parts.netloc:
        return (
            "must not hold credentials; set them in the environment (AWS_ACCESS_KEY_ID, "
            f"AWS_SECRET_ACCESS_KEY, GOOGLE_APPLICATION_CREDENTIALS) or use an instance role (got {shown!r})"
        )
    if parts.query or parts.fragment or "?" in storage_path:
        return (
            "must not carry query options; set the endpoint and region in the environment "
            f"(AWS_ENDPOINT_URL, AWS_DEFAULT_REGION) (got {shown!r})"
        )
    if not parts.netloc:
        return f"needs a bucket: {scheme}://bucket/prefix (got {shown!r})"
    # an object store has no folders: `..` would be a key named `..`, not the parent, and pyarrow
    # reads `bucket/../x` as bucket `..`, so the bucket check passes and the write then fails
    segments = parts.path.split("/")[1:]
    if any(segment in (".", "..") for segment in segments) or "" in segments[:-1]:
        return f"the prefix must not hold '.', '..' or empty segments; give the key prefix as written in the bucket (got {shown!r})"
    return None


def _without_userinfo(uri: str) -> str:
    """``uri`` with its user info (``KEY:SECRET@``) and its query (``?secret_key=...``) as ``***``."""
    uri = re.sub(r"^([a-zA-Z][\w+.-]*://)[^/@]*@", r"\1***@", uri)
    return re.sub(r"\?.*$", "?***", uri)


def sweep_location(storage_path: str, sweep: str) -> Path | str:
    """The sweep's results: ``<storage_path>/<sweep>`` (an absolute Path locally, else a URI)."""
    if is_object_store(storage_path):
        return f"{storage_path.rstrip('/')}/{sweep}"
    return Path(storage_path).expanduser().resolve() / sweep


def resolve(location: str | Path) -> tuple[Any, str]:
    """``(pyarrow filesystem, path on it)`` for a local folder or an object-store URI.

    For S3 the endpoint, region and credentials come from the environment or an instance role.
    """
    import pyarrow.fs

    if not is_object_store(location):
        return pyarrow.fs.LocalFileSystem(), str(Path(location).expanduser().resolve())
    uri = str(location)
    if uri.lower().startswith("gcs://"):
        uri = "gs://" + uri[len("gcs://") :]
    filesystem, path = pyarrow.fs.FileSystem.from_uri(uri)
    return filesystem, path.rstrip("/")


def for_ray(location: str | Path) -> tuple[str, Any]:
    """What Ray's ``storage_path`` and ``storage_filesystem`` get: a local folder as it is (Ray
    resolves it, as before), an object store as its scheme-less path and its filesystem."""
    if not is_object_store(location):
        return str(Path(location).expanduser().resolve()), None
    filesystem, path = resolve(location)
    return path, filesystem


def as_uri(root: str | Path, fs_path: str) -> str:
    """A path Ray reports (scheme-less for object stores: ``bucket/prefix/...``) as a location
    under ``root``'s store: the URI for an object store, the path itself locally."""
    if not is_object_store(root) or is_object_store(fs_path):
        return fs_path
    scheme = str(root).split("://", 1)[0]
    return f"{scheme}://{fs_path.lstrip('/')}"


# -- checkpoints in the store ---------------------------------------------------------------------


def is_complete_at(filesystem: Any, folder: str) -> bool:
    """:func:`finesweep.training.checkpoint.is_complete` on any filesystem: every file the
    checkpoint's manifest lists is there with its recorded size (bytes), read with one listing."""
    import pyarrow.fs

    try:
        with filesystem.open_input_stream(f"{folder}/{_MANIFEST}") as handle:
            files = json.loads(handle.read())
        listed = filesystem.get_file_info(pyarrow.fs.FileSelector(folder, recursive=True))
    except (OSError, ValueError):
        return False
    sizes = {info.path[len(folder) :].lstrip("/"): info.size for info in listed if info.type == pyarrow.fs.FileType.File}
    return all(sizes.get(name) == size for name, size in files.items())


def latest_complete_checkpoint(root: str, trial_id: str) -> str | None:
    """The URI of the trial's newest complete checkpoint under the sweep's store location ``root``.

    Train's path keeps checkpoints under ``train/<trial>``, the in-trial path under ``<trial>``.
    """
    import pyarrow.fs

    filesystem, base = resolve(root)
    found: list[str] = []
    for folder in (f"{base}/train/{trial_id}", f"{base}/{trial_id}"):
        listed = filesystem.get_file_info(pyarrow.fs.FileSelector(folder, allow_not_found=True))
        names = sorted(i.path for i in listed if i.type == pyarrow.fs.FileType.Directory
                       and i.base_name.startswith("checkpoint_"))  # fmt: skip
        found.extend(path for path in names if is_complete_at(filesystem, path))
    return as_uri(root, found[-1]) if found else None


@contextlib.contextmanager
def local_copy(location: str) -> Iterator[Path]:
    """A checkpoint as a local folder for the block: a local path as it is, an object-store
    checkpoint downloaded into a temporary folder that is removed afterwards."""
    if not is_object_store(location):
        yield Path(location)
        return
    import pyarrow.fs

    filesystem, path = resolve(location)
    with tempfile.TemporaryDirectory(prefix="finesweep-checkpoint-") as tmp:
        target = Path(tmp) / Path(path).name
        pyarrow.fs.copy_files(path, str(target), source_filesystem=filesystem,
                              destination_filesystem=pyarrow.fs.LocalFileSystem())  # fmt: skip
        yield target


# -- preflight -------------------------------------------------------------------------------------


def preflight_storage(storage_path: str) -> Path | str:
    """Check the results location is usable now, before data, Ray or MLflow start; return it.

    A local folder: nothing is created (a sweep refused later leaves no folder behind); the first
    existing folder on the path must be a writable directory. An object store: the bucket must
    exist and a small marker object under the prefix must be writable, readable, listable and
    deletable with the credentials of this environment. Raises a one-line SweepError.
    """
    if not is_object_store(storage_path):
        return _prepare_local(storage_path)
    problem = uri_problem(storage_path)
    if problem:
        raise SweepError(f"`storage_path`: {problem}")
    _probe_object_store(storage_path)
    return storage_path


def _prepare_local(storage_path: str) -> Path:
    storage = Path(storage_path).expanduser().resolve()
    existing = next((p for p in [storage, *storage.parents] if p.exists()), None)
    if existing is None or not existing.is_dir():
        raise SweepError(f"storage_path: cannot write to {storage} ({existing} is not a directory)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SweepError(f"storage_path: cannot write to {storage} ({existing} is not writable)")
    return storage


def _probe_object_store(storage_path: str) -> None:
    """Head the bucket, then write, read, list and delete a marker object under the prefix."""
    import pyarrow.fs

    try:
        filesystem, path = resolve(storage_path)
    except (OSError, ValueError) as exc:
        raise SweepError(_store_message(storage_path, "cannot open the store", exc)) from None
    filesystem = _with_short_timeouts(filesystem)
    bucket = path.split("/", 1)[0]
    try:
        if filesystem.get_file_info(bucket).type == pyarrow.fs.FileType.NotFound:
            raise SweepError(f"`storage_path`: bucket {bucket!r} does not exist ({redact(storage_path)})")
    except OSError as exc:
        raise SweepError(_store_message(storage_path, f"cannot check bucket {bucket!r}", exc)) from None
    marker = f"{path}/.finesweep-preflight-{uuid.uuid4().hex}"
    try:
        with filesystem.open_output_stream(marker) as handle:
            handle.write(b"finesweep storage check\n")
        if filesystem.get_file_info(marker).type != pyarrow.fs.FileType.File:
            raise OSError("the marker object written is not listed back")
        filesystem.get_file_info(pyarrow.fs.FileSelector(path, allow_not_found=True))
        filesystem.delete_file(marker)
    except OSError as exc:
        raise SweepError(_store_message(storage_path, f"cannot write, list and delete objects in bucket {bucket!r}", exc)) from None


def _with_short_timeouts(filesystem: Any) -> Any:
    """The same store with the preflight's short connect/request limits and no retries."""
    import pyarrow.fs

    try:
        options = filesystem.__reduce__()[1][0]  # the options the filesystem was built with
        if isinstance(filesystem, pyarrow.fs.S3FileSystem):
            options.update(connect_timeout=_CONNECT_TIMEOUT_S, request_timeout=_REQUEST_TIMEOUT_S)
            return pyarrow.fs.S3FileSystem(**options, retry_strategy=pyarrow.fs.AwsStandardS3RetryStrategy(max_attempts=1))
        if type(filesystem).__name__ == "GcsFileSystem":
            options["retry_time_limit"] = timedelta(seconds=_GCS_RETRY_LIMIT_S)
            return type(filesystem)(**options)
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        pass  # an unexpected pyarrow: probe with the store's own limits
    return filesystem


def _store_message(storage_path: str, what: str, exc: BaseException) -> str:
    """One line: the key, the URI (credentials masked), what failed and the store's first reason."""
    reason = " ".join(str(exc).split()) or type(exc).__name__
    if len(reason) > 300:
        reason = reason[:300] + "..."
    hint = ""
    if "ACCESS_DENIED" in reason or "AccessDenied" in reason or "403" in reason:
        hint = "; check the credentials in the environment or the instance role"
    return f"`storage_path`: {what} ({redact(storage_path)}): {redact(reason)}{hint}"


def latest_checkpoint(storage: str, trial_id: str) -> Path | str | None:
    """The trial's newest complete checkpoint under the sweep's results location ``storage`` (a
    folder or an object-store URI), or None. A checkpoint whose copy to storage was cut short (a
    full disk, a lost node) is never taken. Train's path keeps checkpoints under ``train/<trial>``,
    the in-trial path under ``<trial>``."""
    if is_object_store(storage):  # listed in the store, never on this machine's disk
        return latest_complete_checkpoint(storage, trial_id)
    from finesweep.training.checkpoint import is_complete

    folders = [Path(storage) / "train" / trial_id, Path(storage) / trial_id]
    candidates = [c for folder in folders for c in sorted(folder.glob("checkpoint_*")) if is_complete(c)]
    return candidates[-1] if candidates else None
