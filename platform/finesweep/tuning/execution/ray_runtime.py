"""Connecting to a Ray cluster, or starting a local one that is safe beside other local clusters."""

from __future__ import annotations

import socket

from finesweep.settings import CUBLAS_ENV, Settings


_started: dict[str, str] = {}


def dashboard_url() -> str | None:
    """The dashboard (state API) URL of the local Ray this process started, if any."""
    return _started.get("dashboard")


def state_api_address() -> str | None:
    """The address Ray's state API (``ray.util.state``) should query for the connected cluster.

    Why not Ray's default (None): it looks for local Ray instances and, finding several (a test
    session beside a sweep, two sweeps, a stale head), connects to the latest one recorded under
    /tmp/ray, which may be gone; each query then waits 40 s for a GCS that never answers
    (measured: 80 s of a 110 s one-trial sweep on 2 CPUs). This gives the GCS address of the
    cluster this process is connected to (Ray reads its dashboard's address from there), or None
    when Ray is not initialised.
    """
    import ray

    return ray.get_runtime_context().gcs_address if ray.is_initialized() else None


def free_local_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_local_ray(num_cpus: int | None = None, num_gpus: int | None = None, log_to_driver: bool = True,
                    settings: Settings | None = None) -> str:  # fmt: skip
    """Start a fresh local Ray bound to 127.0.0.1 with its dashboard; return the dashboard URL.

    The dashboard must run: Train V2's placement-group cleaner asks its state API whether a
    trial's controller is still alive, and without an answer the workers of trials that ASHA
    stops keep their CPUs. That state API finds its server through RAY_API_SERVER_ADDRESS or by
    looking for local Ray processes, which fails ("Found multiple active Ray instances") when
    another Ray runs on the same machine (a second sweep, a test session); every worker is
    therefore told this cluster's dashboard address explicitly.

    ``log_to_driver=False`` keeps the workers' output (and Ray's own warnings) off this console;
    it stays in Ray's log files under its session folder.

    The workers get ``settings.trial_thread_timeout_s`` (default settings when None) and
    :data:`~finesweep.settings.CUBLAS_ENV` in their environment.
    """
    import ray

    settings = settings or Settings()
    port = free_local_port()
    url = f"http://127.0.0.1:{port}"
    ray.init(
        address="local",
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        include_dashboard=True,
        dashboard_host="127.0.0.1",
        dashboard_port=port,
        runtime_env={"env_vars": {"RAY_API_SERVER_ADDRESS": url, "TOKENIZERS_PARALLELISM": "false", **CUBLAS_ENV,
                                  # a reused trial actor waits this long (s) for the previous trial's thread
                                  # to end (Tune's default, 2 s, is too short on a busy node: the next
                                  # trial is then errored before it starts)
                                  "TUNE_FUNCTION_THREAD_TIMEOUT_S": settings.trial_thread_timeout_s}},
        configure_logging=True,
        logging_level="warning" if log_to_driver else "error",
        log_to_driver=log_to_driver,
    )
    _started["dashboard"] = url
    return url


def connect_or_start(settings: Settings, log_to_driver: bool = True) -> bool:
    """Use an initialised Ray, connect to the settings' ``ray_address`` ($RAY_ADDRESS, which Ray
    Jobs set), or start a local Ray.

    Returns True when this call started a local Ray that the caller must shut down.
    ``log_to_driver`` says whether the workers' output is printed here (see :func:`start_local_ray`).
    """
    import ray

    if ray.is_initialized():
        return False
    if settings.ray_address:
        ray.init(address=settings.ray_address, log_to_driver=log_to_driver,
                 logging_level="warning" if log_to_driver else "error")  # fmt: skip
        return False
    start_local_ray(log_to_driver=log_to_driver, settings=settings)
    return True
