"""Real server processes for tests: an S3-compatible server (moto's server mode) and Ray nodes
started with ``ray start``. Each runs in its own process group and is stopped by its pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from finesweep.tuning.execution.ray_runtime import free_local_port

# distinctive, so a leak into MLflow, the bucket or the console is found by a plain search
S3_SECRET = "finesweepS3cretKey-7f3a9c2e"
S3_ACCESS_KEY = "FINESWEEPTESTKEY"


def aws_env(endpoint: str) -> dict[str, str]:
    """The environment that points boto3 and pyarrow's S3 file system at ``endpoint``."""
    return {
        "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",  # never wait for an instance role on a test machine
    }


def bucket_keys(client, bucket: str, prefix: str = "") -> list[str]:
    """Every object key under ``prefix`` in ``bucket``."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def wait_for_port(port: int, process: subprocess.Popen, timeout_s: float, what: str) -> None:
    """Return once 127.0.0.1:``port`` accepts connections; raise if ``process`` exits or time runs out."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited at start (exit code {process.returncode})")
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout_s:.0f} s")


def start_moto(log: Path) -> tuple[str, subprocess.Popen]:
    """A moto S3 server on a free 127.0.0.1 port; returns its endpoint URL and process."""
    port = free_local_port()
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    # moto imports its services first: a few seconds on 2 cores
    wait_for_port(port, server, 30, "moto server")
    return f"http://127.0.0.1:{port}", server


def start_ray_node(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """``ray start --block ARGS`` in its own session (so its raylet and agents share one group)."""
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ray.scripts.scripts", "start", "--block", "--disable-usage-stats", *args],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def stop_group(leader: subprocess.Popen, grace_s: float = 5) -> list[int]:
    """SIGTERM every process in ``leader``'s process group (ours, by pid), then SIGKILL what is left
    after ``grace_s`` seconds.

    Returns the pids that survived even SIGKILL (empty when all are gone). Every member is
    signalled at once; a Ray node's GCS otherwise waits about 30 s for its raylets to drain, which
    a test's throwaway cluster does not need (measured: 31 s of teardown per cluster).
    """
    import psutil

    members = [p for p in psutil.process_iter(["pid"]) if _in_group(p, leader.pid)]
    for process in members:
        try:
            process.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(members, timeout=grace_s)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    _, survivors = psutil.wait_procs(alive, timeout=10)
    if leader.poll() is None:
        leader.wait(timeout=10)
    return [p.pid for p in survivors]


def _in_group(process, group: int) -> bool:
    try:
        return os.getpgid(process.pid) == group
    except (ProcessLookupError, PermissionError):
        return False


def s3_client(endpoint: str):
    """A boto3 S3 client for the test server, with the test credentials (not this process's env)."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=S3_ACCESS_KEY,
                        aws_secret_access_key=S3_SECRET)  # fmt: skip
