"""``finesweep submit``: validate a job locally, then run ``finesweep sweep`` on a cluster with Ray Jobs."""

from __future__ import annotations

import asyncio
import os
import shlex
import time
from pathlib import Path

from finesweep.errors import FinesweepError
from finesweep.tracking.schema import TAG_SWEEP

# Environment a sweep reads, forwarded to the job when set on the submitting machine.
FORWARDED_ENV = ("FINESWEEP_DATA_DIR", "FINESWEEP_CACHE_DIR", "MLFLOW_TRACKING_URI", "FINESWEEP_STORAGE_PATH",
                 "HF_HUB_OFFLINE", "HF_HOME")  # fmt: skip
DEFAULT_ADDRESS = "http://127.0.0.1:8265"


def needs_token_auth() -> bool:
    """Ray 2.60 clusters started on a machine with ~/.ray/auth_token require the token from clients
    (the CLI then sets RAY_AUTH_MODE=token for this process)."""
    return "RAY_AUTH_MODE" not in os.environ and (Path.home() / ".ray" / "auth_token").is_file()


def job_location_problems(tracking_uri: str | None, named_storage: str | None, env: dict[str, str]) -> list[str]:
    """What would be lost with the job's temporary working directory: a tracking store or results
    folder given relative to it (or left at their defaults, which are).

    ``named_storage`` is the job's ``storage_path`` when its file or ``--set`` names one (None
    otherwise): only then does $FINESWEEP_STORAGE_PATH in the job's environment not replace it, as
    the loader does on the cluster.
    """
    from finesweep.cluster.job_paths import ephemeral_problems
    from finesweep.config.loader import STORAGE_ENV
    from finesweep.config.schema import JobConfig

    uri = tracking_uri or env.get("MLFLOW_TRACKING_URI") or "sqlite:///mlflow.db"
    storage = named_storage or env.get(STORAGE_ENV, "").strip() or JobConfig.model_fields["storage_path"].default
    return ephemeral_problems(uri, storage, Path("/ray-job-working-dir"))


def build_entrypoint(job_path: Path, working_dir: Path, name: str, overrides: list[str]) -> str:
    """The shell command the job runs on the cluster, with the job file relative to the working dir."""
    try:
        relative = job_path.resolve().relative_to(working_dir.resolve())
    except ValueError:
        raise FinesweepError(f"{job_path}: the job file must be inside --working-dir {working_dir}") from None
    parts = ["finesweep", "sweep", relative.as_posix(), "--name", name]
    for assignment in overrides:
        parts += ["--set", assignment]
    return shlex.join(parts)


def job_environment(extra_env: dict[str, str]) -> dict[str, str]:
    """The job's environment: what a sweep reads, forwarded from here, then ``--env``."""
    env = {key: os.environ[key] for key in FORWARDED_ENV if os.environ.get(key)}
    # the job's trial actors wait up to 30 s (Tune's default: 2 s) for a finished trial's thread
    # before reusing the actor; a busy node otherwise errors the next trial before it starts
    return {"TUNE_FUNCTION_THREAD_TIMEOUT_S": "30", **env, **extra_env}


def submit(
    job_path: Path,
    address: str,
    working_dir: Path,
    name: str,
    overrides: list[str],
    extra_env: dict[str, str],
    follow: bool,
) -> tuple[str, str | None]:
    """Submit the sweep; return (job id, final status when following, else None)."""
    from ray.job_submission import JobSubmissionClient

    env = job_environment(extra_env)
    try:
        client = JobSubmissionClient(address)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise FinesweepError(f"--address {address}: cannot reach the Ray Jobs server ({exc})") from None
    job_id = client.submit_job(
        entrypoint=build_entrypoint(job_path, working_dir, name, overrides),
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
