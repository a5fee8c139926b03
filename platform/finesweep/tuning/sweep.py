"""Run a sweep end to end. ``run_sweep`` is a thin orchestrator, in the spirit of Optuna's ``Study``:
each step lives in a private sibling module, takes what it needs and returns what it makes: a
:class:`~finesweep.tuning._state.SweepSetup`, then :class:`~finesweep.tuning._state.SweepInputs`,
held together as the :class:`SweepState` the later steps read.

1. ``_prepare``: checks that need neither data nor Ray (name, tracking store, resources, storage,
   new/resumed/extended);
2. ``_inputs``: data, base model, baselines, prior trials (warm start, ``--more``);
3. Ray: connected to, or started and shut down here;
4. ``_tuner``: searcher, scheduler, concurrency, trial spec, the Tuner; ``_record``: the parent run;
5. ``_finish``: queued writes, summary, Pareto and feasibility tags, plots, the parent's end.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Any, Iterator

from finesweep.config.loader import LoadedJob
from finesweep.errors import Interrupted, SweepError
from finesweep.settings import Settings, in_use, using
from finesweep.tuning._output import echo, say
from finesweep.tuning._prepare import default_sweep_name
from finesweep.tuning._state import Console, SweepOptions, SweepState
from finesweep.tuning.summary import SweepSummary

__all__ = ["Console", "SweepOptions", "SweepSummary", "default_sweep_name", "run_sweep"]


def run_sweep(loaded: LoadedJob, name: str | None = None, options: SweepOptions | None = None,
              settings: Settings | None = None) -> SweepSummary:  # fmt: skip
    """Run the sweep a validated job describes; returns its summary. Raises FinesweepError on user
    errors. Every check that can fail runs before the data is read, and every check on the data and
    the model before Ray starts.

    ``settings`` (tracking store, data and cache folders, Ray address, ...) default to those in use:
    an enclosing :func:`finesweep.settings.using` block's, else ``Settings()``. The CLI passes
    ``Settings.from_environment`` of its process environment; the environment itself is never read here.
    """
    from finesweep.tuning._inputs import read_inputs
    from finesweep.tuning._prepare import prepare_sweep

    settings = settings or in_use()
    with using(settings):  # the catalog's data directory and the cache, read beneath the task's hooks
        setup = prepare_sweep(loaded, name, options or SweepOptions(), settings)
        state = SweepState(setup, read_inputs(setup))
        with _ray(state):
            return _tune(state)


@contextlib.contextmanager
def _ray(state: SweepState) -> Iterator[None]:
    """Ray for the sweep: the one already connected, $RAY_ADDRESS, or a local one shut down after.
    Ray's own output reaches this console only from verbose 2 on."""
    from finesweep.tuning.execution.ray_runtime import connect_or_start

    with _ctrl_c_deferred() as pressed:
        started_ray = connect_or_start(state.settings, log_to_driver=state.console.level >= 2)
    try:
        if pressed:  # raised here, where Ray is shut down on the way out
            raise KeyboardInterrupt
        yield
    finally:
        if started_ray:
            import ray

            ray.shutdown()


@contextlib.contextmanager
def _ctrl_c_deferred() -> Iterator[list[int]]:
    """Hold a Ctrl-C pressed while Ray starts: the list it yields holds the signal once pressed,
    for the caller to raise once Ray has started.

    Raised inside ``ray.init`` a KeyboardInterrupt can land in the logging module's lock handling,
    which swallows it ("Exception ignored in _releaseLock"), and the sweep then trains anyway. The
    processes Ray starts meanwhile keep the default SIGINT disposition: a Python-level handler does
    not survive exec.
    """
    import signal
    import threading

    pressed: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield pressed
        return
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: pressed.append(signum))
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


def _tune(state: SweepState) -> SweepSummary:
    """Build and fit the Tuner, always closing the parent run (and the budget ledger)."""
    from finesweep.tracking.callback import MlflowSweepCallback
    from finesweep.tracking.outbox import outbox_for
    from finesweep.tuning._background import collect_background_baselines, start_background_baselines
    from finesweep.tuning._finish import Closing, finish, ray_snapshot
    from finesweep.tuning._record import open_parent
    from finesweep.tuning._tuner import build_tuner, start_budget, tuner_parts

    before = ray_snapshot()  # other jobs' placement groups and actors are never this sweep's leak
    parts = tuner_parts(state)
    ledger = start_budget(state)
    probe = None
    try:
        open_parent(state)
        probe = start_background_baselines(state, parts.spec)  # beside the trials
        extra = {"base_model": state.base.reference, "dataset": state.data.source,
                 "dataset_fingerprint": state.data.fingerprint}  # fmt: skip
        # MLflow writes (a finished trial's model above all) run on one writer thread, off Tune's loop
        outbox = outbox_for(f"{state.tracking_uri} (sweep {state.name})", say=say, background=True)
        callbacks = [MlflowSweepCallback(state.tracker, state.loaded.params.model_dump(), extra, outbox),
                     _progress(state)]  # fmt: skip
        tuner = build_tuner(state, parts, callbacks)
        closing = Closing(parts.plan, outbox, failed=True, before=before)
        try:
            closing.interrupted = _fit(tuner, state.results, state.settings.tune_sigint_handler)
            closing.failed = False
        except KeyboardInterrupt:  # a second Ctrl-C, or one outside Tune's loop
            closing.interrupted = closing.hurried = True
            raise
        finally:
            closing.ended_by = _ended_by(ledger)
            _stop(ledger)  # before finish: an actor of this sweep still alive there counts as a leak
            ledger = None
            try:
                collect_background_baselines(state, probe, keep=not (closing.interrupted or closing.failed))
            finally:
                probe = None
                summary = finish(state, closing)
        if closing.interrupted:
            raise Interrupted(
                f"interrupted: sweep {state.name} stopped and recorded as interrupted; continue it with "
                f"`finesweep sweep JOB --name {state.name} --resume`"
            )
        return summary
    finally:
        _stop(ledger)
        if probe is not None:  # the sweep failed before its trials ended
            collect_background_baselines(state, probe, keep=False)


def _stop(ledger: Any) -> None:
    if ledger is not None:
        from finesweep.tuning.search.budget import stop_ledger

        stop_ledger(ledger)


def _ended_by(ledger: Any) -> str:
    """Which budget ended the sweep, or ``trials`` when it ran its trials (or its space) out."""
    if ledger is None:
        return "trials"
    import ray

    return ray.get(ledger.spent.remote()) or "trials"


def _progress(state: SweepState) -> Any:
    """The console's trial lines, numbered as the trials' MLflow runs are (read once, before Tune starts)."""
    from finesweep.tuning.execution.progress import ConsoleProgress

    state.tracker.trials.numbers()  # read from MLflow now, before Tune's loop needs them
    return ConsoleProgress(say, state.tracker, state.objective, list(state.loaded.space),
                           state.console.show_tracebacks, level=min(state.console.level, 1), echo=echo)  # fmt: skip


def _fit(tuner: Any, results: Path | str, tune_handles_sigint: bool) -> bool:
    """``tuner.fit()``, with a full disk under ``storage_path`` reported as such; True when Ctrl-C
    (SIGINT) ended it.

    Tune installs its own SIGINT handler for the fit: the first press stops the trials and saves
    the experiment state, and the handler puts back the one it replaced, so that a second press
    raises KeyboardInterrupt at once (ray/tune/tune.py, ``_setup_signal_catching``). Whether that
    handler fired is read from which one is installed afterwards.

    Tune reads its own experiment state (and each failed trial's pickled error) back after the last
    trial; when the disk filled up those files are truncated and the read fails with EOFError,
    OSError or UnpicklingError, far from the cause.
    """
    import pickle
    import signal
    import threading

    on_main_thread = threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGINT) if on_main_thread else None
    from finesweep.tuning.execution.failures import oom_kills_fail_their_trial

    try:
        with oom_kills_fail_their_trial():  # a trial actor killed for memory fails its trial, not the sweep
            tuner.fit()
    except (EOFError, OSError, pickle.UnpicklingError) as exc:
        # an object store has no local disk to fill; its errors are Tune's own
        if isinstance(results, Path) and out_of_space(results, str(exc)):
            raise SweepError(storage_full_message(results)) from exc
        raise RuntimeError(f"Tune failed: {type(exc).__name__}: {exc}") from exc
    if not on_main_thread or not tune_handles_sigint:  # the settings' tune_sigint_handler
        return False  # Tune installed no handler: a Ctrl-C raised KeyboardInterrupt instead
    interrupted = signal.getsignal(signal.SIGINT) is before
    signal.signal(signal.SIGINT, before)  # Tune leaves its handler installed after a full run
    return interrupted


_NO_SPACE = ("No space left on device", "Errno 28", "errno 28", "Disk quota exceeded")
_NEARLY_FULL_BYTES = 16 * 2**20  # below this much free space a checkpoint copy is likely to fail


def mentions_no_space(error: str) -> bool:
    """True when an error text says the disk (or the user's quota) is full."""
    return any(marker in error for marker in _NO_SPACE)


def out_of_space(path: Path, error: str = "") -> bool:
    """True when ``error`` says the disk is full or the file system under ``path`` nearly is."""
    if mentions_no_space(error):
        return True
    existing = next((p for p in [path, *path.parents] if p.exists()), None)
    return existing is not None and shutil.disk_usage(existing).free < _NEARLY_FULL_BYTES


def storage_full_message(results: Path) -> str:
    """One line for a sweep that ran out of disk under storage_path."""
    return (
        f"storage_path: no space left on the device holding {results}; trials that could not save their "
        "checkpoints are marked failed in MLflow and none is reported as completed. Free space or set "
        "another storage_path, then run the sweep again"
    )
