"""Baselines too slow to wait for, run beside the trials: the frozen-base probe, and the job's
default configuration trained once (what the user would have trained without a sweep).

The probe runs in an actor of its own that asks for no CPU: asking for one, it would wait for a
trial's slot on a full cluster, or take one and delay a trial by its whole run. It shares the
node's cores with the trials instead, on one thread, for the tens of seconds its embeddings take.

The default trial is a trial's worth of training, so it asks for a trial's resources like one:
submitted before Tune starts, it takes the first free slot, and the trials queue behind it as
they would behind one more trial. It trains through the same loop as a trial, with the job's
``train`` values and none of the search space's, outside Tune: no searcher learns from it, no
scheduler stops it, the sweep's budget is not charged for it, and it is no trial of the sweep.

Each runs in a process that ends once its figures are in (or the sweep is interrupted or fails);
the figures are logged on the parent run once the trials are over.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from finesweep.tuning._output import say
from finesweep.tuning._state import SweepState

DEFAULT_PREFIX = "baseline_default_"  # the default trial's figures: baseline_default_val_*, _test_*, _epochs


class _BaselineRunner:
    """The actor holding the probe's process."""

    def run(self, job: Callable[[], dict[str, float]]) -> dict[str, float]:
        import torch

        # this process runs only the probe and then ends: one thread, one core taken from the trials at most
        torch.set_num_threads(1)
        return job()


def _train_default(spec: Any) -> dict[str, float]:
    """Train the job's own configuration once through the trial loop; its last report's figures."""
    import time

    from finesweep.tasks import get_task
    from finesweep.training.context import LocalContext
    from finesweep.training.loop import run_trial_loop

    reports: list[dict[str, Any]] = []
    run_trial_loop(spec, {}, get_task(spec.task), LocalContext(lambda metrics, _folder: reports.append(dict(metrics))),
                   time.time())  # fmt: skip
    return default_figures(reports[-1] if reports else {})


def default_figures(final: dict[str, Any]) -> dict[str, float]:
    """The parent run's figures of the default trial from its last report: every validation and test
    figure under :data:`DEFAULT_PREFIX`, and the epochs it ran."""
    figures = {f"{DEFAULT_PREFIX}{key}": float(value) for key, value in final.items()
               if key.startswith(("val_", "test_")) and isinstance(value, (int, float))}  # fmt: skip
    if "epoch" in final:
        figures[f"{DEFAULT_PREFIX}epochs"] = float(final["epoch"])
    return figures


@dataclass
class _Running:
    """One baseline being computed: what it is, its Ray handle and the ref of its figures."""

    what: str
    handle: Any  # an actor (killed at the end) or None for a task (it ends on its own)
    ref: Any


class BackgroundBaselines:
    """The running baselines, and the seconds the driver spent starting them (what they delay the
    first trial by: the trials start once they are submitted)."""

    def __init__(self, running: list[_Running], start_s: float) -> None:
        self.running, self.start_s = running, start_s

    def stop(self) -> None:
        """End the baselines' processes (a no-op once Ray is down)."""
        import ray

        for item in self.running:
            try:
                if item.handle is not None:
                    ray.kill(item.handle, no_restart=True)
                else:
                    ray.cancel(item.ref, force=True)
            except Exception:  # noqa: BLE001 - Ray already shut down, or the task already ended
                pass


def start_background_baselines(state: SweepState, spec: Any = None) -> BackgroundBaselines | None:
    """Start the task's background baselines and the default trial; None when there are none. A
    resumed or extended sweep starts only those its parent run does not hold yet (an interrupted
    first run never logged them); a re-run of one trial starts none."""
    if state.options.reproduces is not None:
        return None
    import time

    started = time.perf_counter()
    logged = _logged_baselines(state) if state.options.resume else set()
    candidates = (("probe", _start_probe), ("default", _start_default))
    running = [item for name, start in candidates if name not in logged
               for item in [start(state, spec)] if item is not None]  # fmt: skip
    if not running:
        return None
    background = BackgroundBaselines(running, time.perf_counter() - started)
    say(f"baselines: {' and '.join(item.what for item in running)} run beside the trials, started in "
        f"{background.start_s:.2f} s")  # fmt: skip
    return background


def _logged_baselines(state: SweepState) -> set[str]:
    """Which background baselines the parent run already holds: ``probe``, ``default``."""
    tags = state.tracker.client.get_run(state.tracker.parent.run_id).data.tags
    held = set()
    if any(key.startswith(("baseline_probe_", "baseline_knn_")) for key in tags):
        held.add("probe")
    if any(key.startswith(DEFAULT_PREFIX) for key in tags):
        held.add("default")
    return held


def _start_probe(state: SweepState, _spec: Any = None) -> _Running | None:
    job = state.task.background_baselines(state.loaded, state.data, state.base.location)
    if job is None:
        return None
    import ray

    # both calls return at once: the actor's process starts and embeds while Tune starts the trials
    actor = ray.remote(num_cpus=0, max_restarts=0)(_BaselineRunner).remote()
    return _Running("the frozen base model's probe and kNN (baselines.frozen_probe: false skips them)", actor,
                    actor.run.remote(job))  # fmt: skip


def default_trial_wanted(state: SweepState, spec: Any) -> str | None:
    """Why the default trial is not run (None: it is): switched off, nothing searched (every trial
    is the default configuration), or data-parallel trials (a Train worker group it cannot join)."""
    if not state.loaded.job.baselines.default_trial:
        return "baselines.default_trial: false"
    if not state.loaded.space:
        return "the search space is empty: every trial trains the default configuration"
    if spec is None or spec.runtime == "train":
        return "data-parallel trials (scaling.trial_runtime: train) run no default trial"
    return None


def _start_default(state: SweepState, spec: Any) -> _Running | None:
    reason = default_trial_wanted(state, spec)
    if reason is not None:
        if state.loaded.job.baselines.default_trial and state.loaded.space:
            say(f"note: no default-configuration baseline: {reason}")
        return None
    if spec.runtime == "replay":  # the default configuration's recorded curve, read on the driver
        curve, _ = spec.replay.table.nearest(spec.params({}))
        final = {"epoch": len(curve.epochs), **curve.epochs[-1]}
        return _Running("the default configuration (replayed)", None, _resolved(default_figures(final)))
    import ray

    resources = {"num_cpus": spec.cpus_per_worker, "num_gpus": spec.gpus_per_worker}
    # max_calls=1: its process exits after the one call, handing back the memory of its model
    task = ray.remote(max_retries=0, max_calls=1, **resources)(_train_default)
    # its own epochs are not the sweep's: the budget and any per-sweep cache key stay untouched
    ref = task.remote(dataclasses.replace(spec, budget=None))
    return _Running("the default configuration (train: values, trained once; baselines.default_trial: false "
                    "skips it)", None, ref)  # fmt: skip


def _resolved(figures: dict[str, float]) -> Any:
    import ray

    return ray.put(figures)


def collect_background_baselines(state: SweepState, background: BackgroundBaselines | None, keep: bool) -> None:
    """Wait for the background baselines and log them on the parent run (``keep``); end their processes."""
    if background is None:
        return
    if not keep:
        background.stop()
        return
    figures: dict[str, float] = {}
    try:
        for item in background.running:
            figures.update(_collect(item))
    finally:
        background.stop()
    if not figures:
        return
    figures["system/baseline_probe_start_s"] = background.start_s  # seconds the driver spent before Tune started
    state.tracker.parent.log_figures(figures)


def _collect(item: _Running) -> dict[str, float]:
    """One baseline's figures; a failed baseline is reported and logs nothing (never fails the sweep)."""
    import ray

    try:
        ready, _ = ray.wait([item.ref], timeout=0)
        if not ready:
            say(f"baselines: waiting for {item.what.split(' (')[0]} to finish")
        return dict(ray.get(item.ref))
    except Exception as exc:  # noqa: BLE001 - a baseline never fails the sweep it describes
        text = str(exc).strip().splitlines()
        say(f"warning: {item.what.split(' (')[0]} failed ({type(exc).__name__}: {(text[0] if text else '')[:200]}); "
            "none logged")  # fmt: skip
        return {}
