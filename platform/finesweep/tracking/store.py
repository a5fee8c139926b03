"""Which MLflow store a sweep writes to, and checks that it is reachable before anything starts."""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterator

from finesweep.errors import TrackingError
from finesweep.settings import Settings

ARTIFACT_DIR = "mlartifacts"


def resolve_tracking_uri(configured: str | None, settings: Settings, folder: Path | None = None) -> str:
    """The store a command uses: :meth:`Settings.tracking_store`."""
    return settings.tracking_store(configured, folder)


def artifact_location(tracking_uri: str, experiment: str) -> str | None:
    """For a local SQLite store, artifacts go to ./mlartifacts/<experiment> beside the database."""
    if not tracking_uri.startswith("sqlite:///"):
        return None  # a server decides where artifacts live
    database = Path(tracking_uri.removeprefix("sqlite:///"))
    return (database.parent / ARTIFACT_DIR / experiment).as_uri()


_DB_DRIVERS = {  # SQLAlchemy dialect -> (importable driver module, pip package); names fixed here
    "postgresql": ("psycopg2", "psycopg2-binary"),
    "mysql": ("pymysql", "pymysql"),
    "mssql": ("pyodbc", "pyodbc"),
}
_DB_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}
_SYSTEM_FOLDERS = ("/proc", "/sys", "/dev")
_SQLITE_MAGIC = b"SQLite format 3\x00"


def preflight(tracking_uri: str, must_exist: bool = False, timeout_s: float = 5.0) -> None:
    """Fail fast, before data is read or Ray starts, when the tracking store is unusable.

    One check for every command that talks to MLflow: a server must answer within ``timeout_s``
    and be an MLflow server; a SQLite or file store must sit in a writable folder (and, for
    read-only commands, ``must_exist``, so that they never create an empty store); a database URI
    needs its driver installed and its host reachable. Every problem is a TrackingError (exit 2)
    whose text the CLI redacts.
    """
    scheme = tracking_uri.split(":", 1)[0].lower() if "://" in tracking_uri else "file"
    dialect = scheme.split("+", 1)[0]
    if scheme in ("http", "https"):
        _check_server(tracking_uri, timeout_s)
    elif scheme == "sqlite":
        _check_sqlite(tracking_uri, must_exist)
    elif scheme == "file":
        _check_file_store(tracking_uri, must_exist)
    elif dialect in _DB_DRIVERS:
        _check_database(tracking_uri, dialect, timeout_s)


def check_reachable(tracking_uri: str, timeout_s: float = 5.0) -> None:
    """The sweep's preflight: the store must be usable; a missing SQLite file is created later."""
    preflight(tracking_uri, must_exist=False, timeout_s=timeout_s)


def _without_credentials(url: str) -> tuple[str, dict[str, str]]:
    """``url`` without ``user:password@`` and the Basic-auth header that carries them instead
    (urllib would take ``user:password@host`` for a host name and fail to resolve it)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, {}
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    user = urllib.parse.unquote(parts.username or "")
    password = urllib.parse.unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), {"Authorization": f"Basic {token}"}


def _get(url: str, headers: dict[str, str], timeout_s: float) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - the user's own server
            return response.status, response.read(65536)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(65536)


def _check_server(tracking_uri: str, timeout_s: float) -> None:
    from finesweep.redact import redact

    base, headers = _without_credentials(tracking_uri.rstrip("/"))
    hint = "start it or set tracking.uri / MLFLOW_TRACKING_URI"
    tracking_uri = redact(tracking_uri)  # messages name the server, never its password
    try:
        status, _ = _get(base + "/health", headers, timeout_s)
        if status in (401, 403):
            raise TrackingError(f"MLflow tracking server {tracking_uri} refused the credentials ({status} on /health)")
        probe = base + "/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default"
        status, body = _get(probe, headers, timeout_s)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingError(f"MLflow tracking server {tracking_uri} is unreachable ({reason}); {hint}") from None
    if status in (401, 403):
        raise TrackingError(f"MLflow tracking server {tracking_uri} refused the credentials ({status})")
    try:
        answer = json.loads(body or b"null")
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or not ({"experiment", "error_code"} & set(answer)):
        raise TrackingError(
            f"{tracking_uri} answers HTTP but is not an MLflow tracking server (HTTP {status} without MLflow's "
            "JSON on its REST API); check the host and port"
        )


def _sqlite_path(tracking_uri: str) -> Path:
    return Path(tracking_uri.split(":///", 1)[1] if ":///" in tracking_uri else tracking_uri.removeprefix("sqlite://"))


def _check_folder(path: Path, what: str, shown: Path | None = None) -> None:
    """The folder holding a store: not a system folder, an existing writable directory.

    ``shown`` is the store named in messages when ``path`` is a probe inside it (a file store).
    """
    resolved = path.expanduser().resolve()
    store = shown.expanduser().resolve() if shown is not None else resolved
    if any(str(resolved) == root or str(resolved).startswith(root + "/") for root in _SYSTEM_FOLDERS):
        raise TrackingError(f"tracking.uri: {what} {store} is inside a system folder ({resolved.parts[1]})")
    folder = resolved.parent
    existing = next((p for p in [folder, *folder.parents] if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise TrackingError(f"tracking.uri: {existing} is a file, so {what} {store} cannot be created under it")
    if not folder.is_dir():
        raise TrackingError(f"tracking.uri: folder {folder} of the {what} does not exist")
    if not os.access(folder, os.W_OK):
        raise TrackingError(f"tracking.uri: folder {folder} of the {what} is not writable")


def _check_sqlite(tracking_uri: str, must_exist: bool) -> None:
    path = _sqlite_path(tracking_uri)
    _check_folder(path, "SQLite store")
    if not path.exists():
        if must_exist:
            raise TrackingError(
                f"no MLflow store at {path} (no sweep has recorded anything here); pass --tracking-uri "
                "or set MLFLOW_TRACKING_URI"
            )
        return
    if not path.is_file():
        raise TrackingError(f"tracking.uri: {path} is not a file")
    with path.open("rb") as handle:
        header = handle.read(len(_SQLITE_MAGIC))
    if header and header != _SQLITE_MAGIC:
        raise TrackingError(f"tracking.uri: {path} is not a SQLite database")


def _check_file_store(tracking_uri: str, must_exist: bool) -> None:
    path = Path(urllib.parse.urlsplit(tracking_uri).path if tracking_uri.startswith("file:") else tracking_uri)
    if path.exists() and not path.is_dir():
        raise TrackingError(f"tracking.uri: {path} is a file, not a folder for a file store")
    _check_folder(path / "x", "file store", shown=path)  # the store itself is a folder
    if must_exist and not path.is_dir():
        raise TrackingError(f"no MLflow file store at {path}; pass --tracking-uri or set MLFLOW_TRACKING_URI")


def _check_database(tracking_uri: str, dialect: str, timeout_s: float) -> None:
    module, package = _DB_DRIVERS[dialect]
    if importlib.util.find_spec(module) is None:  # an undotted, fixed name: nothing is imported
        raise TrackingError(f"tracking.uri: a {dialect} store needs its driver; pip install {package}")
    parts = urllib.parse.urlsplit(tracking_uri)
    try:
        host, port = parts.hostname, parts.port or _DB_PORTS[dialect]
    except ValueError as exc:
        raise TrackingError(f"tracking.uri: {exc}") from None
    if host:
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
        except OSError as exc:
            raise TrackingError(f"tracking.uri: database {host}:{port} is unreachable ({exc.strerror or exc})") from None


_MIGRATED: set[str] = set()  # SQLite stores this process has seen created and migrated


def client(tracking_uri: str):
    """An MlflowClient bound to ``tracking_uri`` (no global state touched).

    A SQLite store is created and migrated under an exclusive file lock beside it: MLflow runs its
    schema migrations when a process first opens a store, and two sweeps that start at once on a
    new store otherwise both migrate it (one dies with "duplicate column name").
    """
    from mlflow.tracking import MlflowClient

    if not tracking_uri.startswith("sqlite:") or tracking_uri in _MIGRATED:
        return MlflowClient(tracking_uri=tracking_uri)
    with sqlite_lock(_sqlite_path(tracking_uri)):
        mlflow_client = MlflowClient(tracking_uri=tracking_uri)
        mlflow_client.search_experiments(max_results=1)  # the store is open: created and migrated
    _MIGRATED.add(tracking_uri)
    return mlflow_client


@contextlib.contextmanager
def sqlite_lock(database: Path) -> Iterator[None]:
    """An exclusive lock on ``<database>.lock`` for the block (one process at a time)."""
    import fcntl

    with open(f"{database}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_experiment(tracking_uri: str, name: str) -> str:
    """The id of experiment ``name``, created (with a local artifact folder for SQLite) if missing."""
    mlflow_client = client(tracking_uri)
    existing = mlflow_client.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    from mlflow.exceptions import MlflowException

    try:
        return mlflow_client.create_experiment(name, artifact_location=artifact_location(tracking_uri, name))
    except MlflowException as exc:
        # another sweep created it between our look and our create (sweeps started together)
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        created = mlflow_client.get_experiment_by_name(name)
        if created is None:
            raise
        return created.experiment_id
