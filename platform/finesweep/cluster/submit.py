"""``finesweep submit``: validate a job locally, then run ``finesweep sweep`` on a cluster with Ray Jobs."""

from __future__ import annotations

import asyncio
import shlex
import time
from pathlib import Path

from finesweep.errors import FinesweepError
from finesweep.settings import CUBLAS_ENV, DEFAULT_TRIAL_THREAD_TIMEOUT_S, FORWARDED_ENV, Settings
from finesweep.tracking.schema import TAG_SWEEP

__all__ = ["DEFAULT_ADDRESS", "FORWARDED_ENV", "build_entrypoint", "job_environment", "job_location_problems",
           "needs_token_auth", "submit"]  # fmt: skip
DEFAULT_ADDRESS = "http://127.0.0.1:8265"


def needs_token_auth(settings: Settings) -> bool:
    """Ray 2.60 clusters started on a machine with ~/.ray/auth_token require the token from clients
    (the CLI then sets RAY_AUTH_MODE=token for this process) unless RAY_AUTH_MODE is set already."""
    return settings.ray_auth_mode is None and (Path.home() / ".ray" / "auth_token").is_file()


def job_location_problems(tracking_uri: str | None, named_storage: str | None, env: dict[str, str]) -> list[str]:
    """What would be lost with the job's temporary working directory: a tracking store or results
    folder given relative to it (or left at their defaults, which are).

    ``named_storage`` is the job's ``storage_path`` when its file or ``--set`` names one (None
    otherwise): only then does $FINESWEEP_STORAGE_PATH in the job's environment not replace it, as
    the loader does on the cluster.
    """
    from finesweep.cluster.job_paths import ephemeral_problems
    from finesweep.config.schema import JobConfig
    from finesweep.tracking.store import resolve_tracking_uri

    there = Settings.from_environment(env)  # the settings the job's `finesweep sweep` will build
    uri = resolve_tracking_uri(tracking_uri, there, folder=Path("."))  # its default store is relative to its copy
    storage = named_storage or there.storage_path or JobConfig.model_fields["storage_path"].default
    return ephemeral_problems(uri, storage, Path("/ray-job-working-dir"))


def build_entrypoint(job_path: Path, working_dir: Path, name: str, overrides: list[str],
                     trust_remote_code: bool = False) -> str:  # fmt: skip
    """The shell command the job runs on the cluster, with the job file relative to the working dir
    (and ``--trust-remote-code`` when it was given here: the cluster's sweep needs it too)."""
    try:
        relative = job_path.resolve().relative_to(working_dir.resolve())
    except ValueError:
        raise FinesweepError(f"{job_path}: the job file must be inside --working-dir {working_dir}") from None
    parts = ["finesweep", "sweep", relative.as_posix(), "--name", name]
    for assignment in overrides:
        parts += ["--set", assignment]
    if trust_remote_code:
        parts.append("--trust-remote-code")
    return shlex.join(parts)


def job_environment(settings: Settings, extra_env: dict[str, str]) -> dict[str, str]:
    """The job's environment: what a sweep reads, forwarded from here (the settings'
    ``forwarded_env``), then ``--env``."""
    # the job's trial actors wait up to 30 s (Tune's default: 2 s) for a finished trial's thread
    # before reusing the actor; a busy node otherwise errors the next trial before it starts
    # (CUBLAS_ENV: deterministic cuBLAS kernels on the cluster's GPU workers, see training/seeding.py)
    return {"TUNE_FUNCTION_THREAD_TIMEOUT_S": DEFAULT_TRIAL_THREAD_TIMEOUT_S, **CUBLAS_ENV,
            **dict(settings.forwarded_env), **extra_env}  # fmt: skip


def submit(
    job_path: Path,
    address: str,
    working_dir: Path,
    name: str,
    overrides: list[str],
    env: dict[str, str],
    follow: bool,
    trust_remote_code: bool = False,
) -> tuple[str, str | None]:
    """Submit the sweep with ``env`` (:func:`job_environment`) as its environment; return (job id,
    final status when following, else None)."""
    from ray.job_submission import JobSubmissionClient

    try:
        client = JobSubmissionClient(address)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise FinesweepError(f"--address {address}: cannot reach the Ray Jobs server ({exc})") from None
    job_id = client.submit_job(
        entrypoint=build_entrypoint(job_path, working_dir, name, overrides, trust_remote_code),
        runtime_env={"working_dir": str(working_dir), "env_vars": env},
        metadata={TAG_SWEEP: name},  # the Ray job names its sweep under the key its runs' tag has
    )
    print(f"submitted Ray job {job_id} (sweep {name!r}) to {address}", flush=True)
    if not follow:
        return job_id, None
    asyncio.run(_stream(client, job_id))
    return job_id, _final_status(client, job_id)


async def _stream(client, job_id: str) -> None:
    async for lines in client.tail_job_logs(job_id):
        print(lines, end="", flush=True)


def _final_status(client, job_id: str, timeout_s: float = 60.0) -> str:
    deadline = time.time() + timeout_s
    status = str(client.get_job_status(job_id))
    while not status.endswith(("SUCCEEDED", "FAILED", "STOPPED")) and time.time() < deadline:
        time.sleep(1)
        status = str(client.get_job_status(job_id))
    return status.rsplit(".", 1)[-1]
