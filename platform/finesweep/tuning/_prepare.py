"""Every check a sweep can fail before it reads its data: name, tracking store, resources,
storage, and whether it is new, resumed or extended."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from finesweep.config.loader import LoadedJob
from finesweep.errors import ConfigError, SweepError
from finesweep.settings import Settings, in_use
from finesweep.tracking.schema import TAG_STATUS
from finesweep.tracking.trials import recorded_extensions, recorded_objective
from finesweep.tuning._output import say
from finesweep.tuning._state import Console, SweepOptions, SweepSetup

# A parent run's finesweep.status once the sweep has ended on its own; --more extends only those.
ENDED = ("finished", "budget_spent")


def default_sweep_name(loaded: LoadedJob) -> str:
    """``<job name>-<UTC timestamp>``, unique per start."""
    return f"{loaded.name}-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}"


def prepare_sweep(loaded: LoadedJob, name: str | None, options: SweepOptions,
                  settings: Settings | None = None) -> SweepSetup:  # fmt: skip
    """The sweep's setup, after every check that needs neither its data nor Ray: tracking store,
    sweep name, resources, storage, then whether it may start, resume or be extended. ``settings``
    default to those in use (:func:`finesweep.settings.in_use`)."""
    from finesweep.storage import preflight_storage, sweep_location
    from finesweep.tasks import get_task
    from finesweep.tracking.provenance import code_folder, git_commit
    from finesweep.tracking.runs import SweepTracker
    from finesweep.tracking.store import check_reachable, resolve_tracking_uri

    settings = settings or in_use()
    job = loaded.job
    sweep = name or default_sweep_name(loaded)
    _check_sweep_name(sweep)
    tracking_uri = resolve_tracking_uri(job.tracking.uri, settings)
    _check_job_locations(tracking_uri, job.storage_path, settings)
    check_reachable(tracking_uri)
    _check_local_resources(job.scaling, settings)
    # nothing is created locally: a sweep refused later (bad data, a LoRA target the model lacks)
    # leaves no folder behind
    preflight_storage(job.storage_path)
    say(f"sweep {sweep!r}: task {job.task}, tracking {tracking_uri}")
    console = Console(job.verbose if options.verbose is None else options.verbose, options.show_tracebacks)
    tracker = SweepTracker(tracking_uri, job.tracking.experiment, sweep)
    setup = SweepSetup(loaded, get_task(job.task), sweep, options, tracking_uri, tracker,
                       sweep_location(job.storage_path, sweep), console, settings, started=time.time(),
                       commit=git_commit(code_folder()), extension=0)  # fmt: skip
    return replace(setup, extension=_check_continuation(setup))


def _check_job_locations(tracking_uri: str, storage_path: str, settings: Settings) -> None:
    """Inside a Ray job, refuse a tracking store or results folder in Ray's temporary copy of the
    working directory (see :mod:`finesweep.cluster.job_paths`)."""
    from finesweep.cluster.job_paths import ephemeral_problems, in_ray_job

    if in_ray_job(settings.in_ray_job):
        problems = ephemeral_problems(tracking_uri, storage_path)
        if problems:
            raise ConfigError(problems)


def _check_sweep_name(sweep: str) -> None:
    """The sweep name becomes a folder under storage_path: it must not climb out of it."""
    from finesweep.config.names import name_problem

    problem = name_problem(sweep, "--name")
    if problem:
        raise ConfigError([problem])


def _check_local_resources(scaling: Any, settings: Settings) -> None:
    """When this sweep will start its own local Ray, check a trial fits this machine first, so an
    impossible request fails in milliseconds instead of after Ray's start (about 12 s here)."""
    import ray

    if ray.is_initialized() or settings.ray_address:
        return  # a cluster's resources are known only once connected; planning checks them then
    from finesweep.tuning.execution.planning import local_machine_resources, plan_concurrency

    plan_concurrency([local_machine_resources()], scaling, 1)


def _check_same_sweep(state: SweepSetup, parent_id: str, tags: dict[str, str]) -> None:
    """``--more`` adds trials to the sweep it names; a job with another task, objective or space is
    another sweep, refused here, before the data is read (the data's fingerprint is compared once
    it is read, in ``_inputs``)."""
    from finesweep.tuning.search.warm_start import SweepIdentity, identity_changes, recorded_space, refuse_changes, space_record

    loaded = state.loaded
    current = SweepIdentity(loaded.job.task, loaded.objective, space_record(loaded.space))
    refuse_changes(state.name, identity_changes(tags, recorded_space(state.tracker.client, parent_id), current))


def _check_continuation(state: SweepSetup) -> int:
    """A new sweep needs a fresh name; a resumed one its parent run and Tune state; an extended
    one (``--more``) a parent run whose sweep has ended. Returns which ``--more`` run this is (1, 2,
    ...; 0 when none)."""
    from ray.tune import Tuner

    from finesweep.storage import for_ray

    parent_id = state.tracker.parent.find()
    options, sweep, experiment = state.options, state.name, state.loaded.job.tracking.experiment
    if parent_id is not None and not options.resume:
        raise SweepError(
            f"a sweep named {sweep!r} already exists in experiment {experiment!r}; continue it with "
            f"`finesweep sweep {state.loaded.path.name} --name {sweep} --resume` (add --more K for K more trials) "
            "or choose another --name"
        )
    if options.more and not options.resume:
        raise SweepError(f"--more {options.more}: extends an existing sweep; add --resume and its --name")
    if options.resume and parent_id is None:
        raise SweepError(f"--resume: no sweep named {sweep!r} in experiment {experiment!r}")
    if options.more:
        tags = state.tracker.client.get_run(parent_id).data.tags
        status = tags.get(TAG_STATUS, "")
        extension = recorded_extensions(tags, parent_id) + 1  # this is the sweep's n-th --more
        if status not in ENDED:
            raise SweepError(
                f"--more: sweep {sweep!r} has not ended (its status is {status or 'unknown'}); finish it with "
                "--resume first, then add trials with --resume --more K"
            )
        recorded_objective(tags, parent_id)  # a garbled objective tag is named with its run, before comparing
        _check_same_sweep(state, parent_id, tags)
        return extension
    if options.resume and not Tuner.can_restore(*for_ray(state.results)):
        raise SweepError(f"--resume: no Tune state for {sweep!r} under {state.results}")
    return 0
