"""Baselines too slow to wait for (a frozen-base probe), run beside the trials in one Ray task.

It runs in an actor of its own that asks for no CPU: asking for one, the probe would wait for a
trial's slot on a full cluster, or take one and delay a trial by its whole run. It shares the
node's cores with the trials instead, on one thread, for the tens of seconds its embeddings take.
The actor is killed once its figures are in (or the sweep is interrupted or fails), so its
process, its thread setting and the base model it loaded never serve anything else. The figures
are logged on the parent run once the trials are over.
"""

from __future__ import annotations

from typing import Any, Callable

from finesweep.tuning._output import say
from finesweep.tuning._state import SweepState


class _BaselineRunner:
    """The actor holding the probe's process."""

    def run(self, job: Callable[[], dict[str, float]]) -> dict[str, float]:
        import torch

        # this process runs only the probe and then ends: one thread, one core taken from the trials at most
        torch.set_num_threads(1)
        return job()


class BackgroundBaselines:
    """The running probe: its actor, the ref of its figures, and the seconds the driver spent
    starting it (what it delays the first trial by: the trials start once it is submitted)."""

    def __init__(self, actor: Any, ref: Any, start_s: float) -> None:
        self.actor, self.ref, self.start_s = actor, ref, start_s

    def stop(self) -> None:
        """End the actor's process (a no-op once Ray is down)."""
        import ray

        try:
            ray.kill(self.actor, no_restart=True)
        except Exception:  # noqa: BLE001 - Ray already shut down: the actor ended with it
            pass


def start_background_baselines(state: SweepState) -> BackgroundBaselines | None:
    """Start the task's background baselines in their actor; None when it has none (or a
    resumed or extended sweep logged them when it started, or the sweep re-runs one trial)."""
    if state.options.resume or state.options.reproduces is not None:  # logged at the start; a re-run of one trial
        return None
    import time

    started = time.perf_counter()
    job = state.task.background_baselines(state.loaded, state.data, state.base.location)
    if job is None:
        return None
    import ray

    # both calls return at once: the actor's process starts and embeds while Tune starts the trials
    actor = ray.remote(num_cpus=0, max_restarts=0)(_BaselineRunner).remote()
    running = BackgroundBaselines(actor, actor.run.remote(job), time.perf_counter() - started)
    say(f"baselines: the frozen base model's probe and kNN run beside the trials, started in {running.start_s:.2f} s "
        "(baselines.frozen_probe: false skips them)")  # fmt: skip
    return running


def collect_background_baselines(state: SweepState, running: BackgroundBaselines | None, keep: bool) -> None:
    """Wait for the background baselines and log them on the parent run (``keep``); end the actor."""
    if running is None:
        return
    if not keep:
        running.stop()
        return
    import ray

    try:
        ready, _ = ray.wait([running.ref], timeout=0)
        if not ready:
            say("baselines: waiting for the frozen base model's probe to finish")
        figures = ray.get(running.ref)
    except Exception as exc:  # noqa: BLE001 - a baseline never fails the sweep it describes
        say(f"warning: the frozen-base baselines failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); none logged")
        return
    finally:
        running.stop()
    figures["system/baseline_probe_start_s"] = running.start_s  # seconds the driver spent before Tune started
    state.tracker.log_parent_figures(figures)
    state.baseline.update(figures)
