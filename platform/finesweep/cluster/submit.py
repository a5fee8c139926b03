"""``finesweep submit``: validate a job locally, then run ``finesweep sweep`` on a cluster with Ray Jobs."""

from __future__ import annotations

import asyncio
import os
import shlex
import time
from pathlib import Path

from finesweep.errors import FinesweepError

# Environment a sweep reads, forwarded to the job when set on the submitting machine.
FORWARDED_ENV = ("FINESWEEP_DATA_DIR", "FINESWEEP_CACHE_DIR", "MLFLOW_TRACKING_URI", "HF_HUB_OFFLINE", "HF_HOME")
DEFAULT_ADDRESS = "http://127.0.0.1:8265"


def enable_token_auth_when_available() -> None:
    """Ray 2.60 clusters started on a machine with ~/.ray/auth_token require the token from clients."""
    if "RAY_AUTH_MODE" not in os.environ and (Path.home() / ".ray" / "auth_token").is_file():
        os.environ["RAY_AUTH_MODE"] = "token"


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
    enable_token_auth_when_available()
    from ray.job_submission import JobSubmissionClient

    env = {key: os.environ[key] for key in FORWARDED_ENV if os.environ.get(key)}
    env.update(extra_env)
    try:
        client = JobSubmissionClient(address)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise FinesweepError(f"--address {address}: cannot reach the Ray Jobs server ({exc})") from None
    job_id = client.submit_job(
        entrypoint=build_entrypoint(job_path, working_dir, name, overrides),
        runtime_env={"working_dir": str(working_dir), "env_vars": env},
        metadata={"finesweep.sweep": name},
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
