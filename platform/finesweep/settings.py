"""The settings a command runs under: read from the environment once, at the entry point.

The CLI builds them with ``Settings.from_environment`` of the process environment; a caller of the Python API
builds its own (or takes the defaults, ``Settings()``) and passes them down, e.g.
``run_sweep(loaded, settings=Settings(data_dir=Path("data")))``. Library code reads no environment
variable: it gets these values as arguments (and the trials get them inside their trial spec).

Two values are read beneath the tasks' ``prepare_data(loaded)`` and ``check_job`` hooks, whose
signatures carry no settings: the catalog's data directory and the cache directory. Whoever holds
the settings runs that code inside ``using(settings)``; :func:`in_use` gives them there (the
defaults elsewhere), like :func:`decimal.localcontext`. Nothing else reads :func:`in_use`.

This module imports nothing from finesweep, so every layer may import it.
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

# Environment variables that a sweep's settings come from, forwarded to a job that `finesweep
# submit` starts on a cluster when they are set here (HF_HOME: Hugging Face's own cache folder).
FORWARDED_ENV = ("FINESWEEP_DATA_DIR", "FINESWEEP_CACHE_DIR", "MLFLOW_TRACKING_URI", "FINESWEEP_STORAGE_PATH",
                 "HF_HUB_OFFLINE", "HF_HOME")  # fmt: skip
STORAGE_ENV = "FINESWEEP_STORAGE_PATH"
_TRUE = ("1", "true", "yes", "on")  # how Hugging Face reads its boolean variables
# a reused trial actor waits this long (s) for the previous trial's thread to end; Tune's default,
# 2 s, is too short on a busy node: the next trial is then errored before it starts
DEFAULT_TRIAL_THREAD_TIMEOUT_S = "30"
# cuBLAS picks deterministic kernels (torch.use_deterministic_algorithms) only with this workspace
# setting in the environment before its first use: 4 KiB x 8 buffers (NVIDIA's documented value)
CUBLAS_ENV = {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
# Defaults for the libraries finesweep drives, which read them from the environment only. The CLI
# sets each one that is unset when it starts; a caller of the Python API that wants the CLI's
# behaviour does the same (each PROCESS_ENV item set as a default of the process environment) before
# it imports mlflow or ray. Library code sets none of them.
PROCESS_ENV = {
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    # with an http store MLflow prints "View run ... at: <url>" at each run's end (one more GET per
    # run, too); finesweep prints the sweep's own link in its summary
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    # the driver tokenizes before Ray forks workers; a forked tokenizer pool would warn and deadlock
    "TOKENIZERS_PARALLELISM": "false",
    # a tracking server that went away must not hold a command for minutes in MLflow's retries
    # (7 retries, backoff factor 2 by default); the preflight has already checked it answers
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",  # seconds per request
    # Tune saves its experiment state at most every 10 s by default; warm trials start within
    # seconds of each other, so a driver killed in between would lose more started trials to
    # --resume. One second costs little (the state of a sweep is a few KiB).
    "TUNE_GLOBAL_CHECKPOINT_S": "1",
    **CUBLAS_ENV,  # `finesweep train`'s own process, and the workers of a local Ray, which inherit it
}
# Below verbose 2 the CLI also sets these: MLflow's INFO lines (creating the database tables, ...)
# are its internals; Tune's newer console engine prints its experiment box and result folders even
# when silent (verbose 0), the older one prints nothing then (finesweep prints the trials itself).
QUIET_ENV = {"MLFLOW_LOGGING_LEVEL": "WARNING", "RAY_AIR_NEW_OUTPUT": "0"}


DB_FILE = "mlflow.db"  # the SQLite store a command uses when nothing names one


@dataclass(frozen=True)
class Settings:
    """Where a command keeps and finds things, and how it reaches Ray; every field has a default.

    - ``tracking_uri``: the MLflow store of jobs whose ``tracking.uri`` is empty ($MLFLOW_TRACKING_URI;
      None: ``./mlflow.db``);
    - ``storage_path``: the ``storage_path`` of jobs that name none ($FINESWEEP_STORAGE_PATH);
    - ``data_dir``: the folder the dataset catalog reads before downloading ($FINESWEEP_DATA_DIR);
    - ``cache_dir``: where downloads, built models and indexes are kept ($FINESWEEP_CACHE_DIR;
      None: ``~/.cache/finesweep``);
    - ``ray_address``: the Ray cluster to connect to ($RAY_ADDRESS; Ray Jobs set it; None: start a
      local Ray);
    - ``hub_offline``: the Hugging Face hub is not asked for models ($HF_HUB_OFFLINE);
    - ``tune_sigint_handler``: Tune catches Ctrl-C (False with $TUNE_DISABLE_SIGINT_HANDLER). Tune
      reads that variable itself; this flag tells the sweep what Tune does, so keep the two alike;
    - ``trial_thread_timeout_s``: seconds a reused trial actor waits for its previous trial's thread
      ($TUNE_FUNCTION_THREAD_TIMEOUT_S), given to the workers of a local Ray;
    - ``in_ray_job``: this process is a Ray job's driver ($RAY_JOB_ID);
    - ``ray_auth_mode``: $RAY_AUTH_MODE as set here (None: unset);
    - ``jobs_server``: the Ray Jobs server `finesweep submit` uses by default ($RAY_API_SERVER_ADDRESS);
    - ``forwarded_env``: the variables of :data:`FORWARDED_ENV` set here, as (name, value) pairs;
    - ``trust_remote_code``: the command line's ``--trust-remote-code`` (never the environment): a
      job's ``model.trust_remote_code: true`` is refused without it, since a job file is untrusted.
    """

    tracking_uri: str | None = None
    storage_path: str | None = None
    data_dir: Path | None = None
    cache_dir: Path | None = None
    ray_address: str | None = None
    hub_offline: bool = False
    tune_sigint_handler: bool = True
    trial_thread_timeout_s: str = DEFAULT_TRIAL_THREAD_TIMEOUT_S
    in_ray_job: bool = False
    ray_auth_mode: str | None = None
    jobs_server: str | None = None
    forwarded_env: tuple[tuple[str, str], ...] = ()
    trust_remote_code: bool = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Settings:
        """The settings ``environ`` (the CLI passes its process environment) describes; unset or empty
        variables keep the defaults."""

        def text(name: str) -> str | None:
            return environ.get(name, "").strip() or None

        data_dir = text("FINESWEEP_DATA_DIR")
        cache_dir = text("FINESWEEP_CACHE_DIR")
        return cls(
            tracking_uri=text("MLFLOW_TRACKING_URI"),
            storage_path=text(STORAGE_ENV),
            data_dir=Path(data_dir).expanduser().resolve() if data_dir else None,
            cache_dir=Path(cache_dir).expanduser() if cache_dir else None,
            ray_address=text("RAY_ADDRESS"),
            hub_offline=(text("HF_HUB_OFFLINE") or "").lower() in _TRUE,
            tune_sigint_handler=environ.get("TUNE_DISABLE_SIGINT_HANDLER", "0") in ("", "0"),
            trial_thread_timeout_s=text("TUNE_FUNCTION_THREAD_TIMEOUT_S") or DEFAULT_TRIAL_THREAD_TIMEOUT_S,
            in_ray_job=bool(text("RAY_JOB_ID")),
            ray_auth_mode=environ.get("RAY_AUTH_MODE"),
            jobs_server=text("RAY_API_SERVER_ADDRESS"),
            forwarded_env=tuple((name, environ[name]) for name in FORWARDED_ENV if environ.get(name)),
        )

    def tracking_store(self, configured: str | None, folder: Path | None = None) -> str:
        """The one rule for which MLflow store a command uses: ``configured`` (a job's
        ``tracking.uri``, a ``--tracking-uri``) if set, else ``tracking_uri`` ($MLFLOW_TRACKING_URI
        from the CLI), else a SQLite store in ``folder`` (default: the working directory)."""
        return configured or self.tracking_uri or f"sqlite:///{(Path.cwd() if folder is None else folder) / DB_FILE}"

    def cache_root(self) -> Path:
        """The cache folder: ``cache_dir``, else ``~/.cache/finesweep``."""
        return self.cache_dir.expanduser() if self.cache_dir else Path.home() / ".cache" / "finesweep"


_IN_USE: contextvars.ContextVar[Settings | None] = contextvars.ContextVar("finesweep_settings", default=None)


@contextlib.contextmanager
def using(settings: Settings) -> Iterator[Settings]:
    """Run the block with ``settings`` in use (see the module's docstring for the two readers)."""
    token = _IN_USE.set(settings)
    try:
        yield settings
    finally:
        _IN_USE.reset(token)


def in_use() -> Settings:
    """The settings of the innermost :func:`using` block, else the defaults."""
    return _IN_USE.get() or Settings()
