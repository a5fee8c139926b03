"""Run a sweep end to end: preflight, Ray, the Tuner, MLflow, the summary and the leaderboard."""

from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from finesweep.config.loader import LoadedJob
from finesweep.errors import SweepError, TrackingError

# Resources Ray reports that are not handed out to tasks; ignored by the leak check.
_UNTRACKED = ("memory", "object_store_memory")


@dataclass
class SweepSummary:
    """What a finished sweep reports (and what tests check)."""

    name: str
    tracking_uri: str
    parent_run_id: str
    metric: str
    mode: str
    statuses: dict[str, str]
    best_trial_id: str | None
    best_value: float | None
    wall_time_s: float
    max_concurrent: int
    resources_released: bool
    leaked: dict[str, float] = field(default_factory=dict)
    mean_time_to_first_step_s: float | None = None
    median_time_to_first_step_s: float | None = None  # over every trial, ASHA-stopped ones included
    errors: dict[str, str] = field(default_factory=dict)  # failed trial -> the exception it died of
    startup: dict[str, float] = field(default_factory=dict)  # mean seconds per start phase of a trial
    storage_path: str = ""
    experiment_id: str = ""

    def count(self, status: str) -> int:
        """Number of trials that ended with ``status``."""
        return sum(1 for s in self.statuses.values() if s == status)


def default_sweep_name(loaded: LoadedJob) -> str:
    """``<job name>-<UTC timestamp>``, unique per start."""
    return f"{loaded.name}-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}"


def _say(message: str) -> None:
    from finesweep.redact import safe_for_console

    print(safe_for_console(f"finesweep: {message}"), flush=True)


def _echo(line: str) -> None:
    """A line as it is (a failed trial's traceback), secrets masked."""
    from finesweep.redact import safe_for_console

    print(safe_for_console(line), flush=True)


def _wait_for_release(timeout_s: float = 60.0) -> tuple[bool, dict[str, float]]:
    """Wait until every CPU/GPU/custom resource is free again; return (released, what is still held)."""
    import ray

    deadline = time.time() + timeout_s
    while True:
        total = ray.cluster_resources()
        free = ray.available_resources()
        held = {
            key: total[key] - free.get(key, 0.0)
            for key in total
            if key not in _UNTRACKED and not key.startswith("node:") and total[key] - free.get(key, 0.0) > 1e-6
        }
        if not held or time.time() > deadline:
            return not held, held
        time.sleep(0.5)


def _parent_params(loaded: LoadedJob) -> dict[str, Any]:
    from finesweep.tracking.runs import flatten

    resolved = loaded.job.model_dump(exclude={"train"})
    params = flatten(resolved)
    params.update(flatten(loaded.params.model_dump(), "train"))
    return params


def _log_parent_files(tracker: Any, loaded: LoadedJob, data: Any) -> None:
    tracker.log_parent_file(loaded.path, "job")
    if loaded.space_path is not None:
        tracker.log_parent_file(loaded.space_path, "job")
    space = {name: spec.model_dump() for name, spec in loaded.space.items()}
    tracker.log_parent_text(yaml.safe_dump({"parameters": space}, sort_keys=False), "resolved/search_space.yaml")
    resolved = {**loaded.job.model_dump(), "train": loaded.params.model_dump(), "overrides": list(loaded.overrides)}
    for key in ("path", "validation_path", "test_path"):  # absolute, so promotion can re-read the data
        if resolved["dataset"].get(key):
            resolved["dataset"][key] = str(loaded.resolve_path(resolved["dataset"][key]))
    tracker.log_parent_text(yaml.safe_dump(resolved, sort_keys=False), "resolved/job.yaml")
    tracker.log_parent_text(json.dumps(data.summary(), indent=2), "data_summary.json")
    tracker.log_parent_text(json.dumps(data_source_record(loaded, data), indent=2), DATA_SOURCE_ARTIFACT)


DATA_SOURCE_ARTIFACT = "resolved/data_source.json"


def data_source_record(loaded: LoadedJob, data: Any) -> dict[str, Any]:
    """Where the sweep's data came from: the catalog entry and the data directory it was read
    from, or the user's files with their sha256. ``promote-best-model`` and ``report`` re-read the
    data from there, without the environment the sweep ran in, and refuse a changed file."""
    from finesweep.data.catalog import data_dir

    folder = data_dir()
    return {
        "catalog": loaded.job.dataset.name,
        "data_dir": str(folder) if folder is not None and loaded.job.dataset.name else None,
        "files": dict(getattr(data, "files", {})),
    }


def _prepare_storage(storage_path: str) -> Path | str:
    """Check the results location is usable now, so a bad path or an unreachable bucket fails
    before data, Ray or MLflow start (see :func:`finesweep.storage.preflight_storage`).

    Nothing is created locally: a sweep refused later (bad data, a LoRA target the model lacks)
    leaves no folder behind.
    """
    from finesweep.storage import preflight_storage

    return preflight_storage(storage_path)


def _fail_fast_mlflow_requests() -> None:
    """Short HTTP retries in the driver: MLflow's default (7 retries, backoff factor 2) blocks Tune's
    event loop for minutes per write when the server is down; the sweep's outbox retries instead.
    A user's own settings win."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    # Tune saves its experiment state at most every 10 s by default; warm trials start within
    # seconds of each other, so a driver killed in between would lose more started trials to
    # --resume. One second costs little (the state of a sweep is a few KiB).
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")


def _preflight_tokenizer(location: str, trust_remote_code: bool) -> None:
    """Load the tokenizer once on the driver so a missing or offline-unavailable model fails now."""
    from transformers import AutoTokenizer

    from finesweep.errors import ModelError

    try:
        AutoTokenizer.from_pretrained(location, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"model.base: cannot load {location!r}: {first}") from None


def run_sweep(loaded: LoadedJob, name: str | None = None, resume: bool = False, verbose: int | None = None,
              show_tracebacks: bool = False, reproduces: Any = None) -> SweepSummary:  # fmt: skip
    """Run the sweep a validated job describes; returns its summary. Raises FinesweepError on user errors.

    ``verbose`` overrides the job's ``verbose`` (0: finesweep's summary lines and failures; 1: a line
    per trial event; 2: Ray's trial table and the workers' output as well; 3: Tune's full results);
    ``show_tracebacks`` prints a failed trial's traceback under its line. ``reproduces`` (a
    :class:`finesweep.tuning.reproduce.Reproduction`) makes this sweep the re-run of one trial: its
    data must have the original's fingerprint, and its parent run points back at the original.

    Every check that can fail runs before the data is read, and every check on the data and the
    model before Ray starts: tracking store, sweep name, storage, resources, then data, model.
    """
    from finesweep.tasks import get_task
    from finesweep.tracking.runs import SweepTracker, git_commit
    from finesweep.tracking.store import check_reachable, resolve_tracking_uri

    started = time.time()
    job = loaded.job
    task = get_task(job.task)
    sweep = name or default_sweep_name(loaded)
    _check_sweep_name(sweep)
    tracking_uri = resolve_tracking_uri(job.tracking.uri)
    _fail_fast_mlflow_requests()
    check_reachable(tracking_uri)
    _check_local_resources(job.scaling)
    _prepare_storage(job.storage_path)
    _say(f"sweep {sweep!r}: task {job.task}, tracking {tracking_uri}")
    tracker = SweepTracker(tracking_uri, job.tracking.experiment, sweep)
    _check_resume(tracker, loaded, sweep, resume)
    data, base, baseline = _prepare_inputs(loaded, task)
    if reproduces is not None:
        reproduces.check_data(data.fingerprint, data.source)
    from finesweep.tuning.ray_runtime import connect_or_start

    console = Console(loaded.job.verbose if verbose is None else verbose, show_tracebacks)
    # Ray's own output (worker logs, its warnings) reaches this console only from verbose 2 on
    started_ray = connect_or_start(log_to_driver=console.level >= 2)
    try:
        commit = git_commit(loaded.path.parent)
        return _run_tuner(loaded, task, sweep, tracker, data, base, started, tracking_uri, commit, resume, baseline,
                          console, reproduces)  # fmt: skip
    finally:
        if started_ray:
            import ray

            ray.shutdown()


def _check_sweep_name(sweep: str) -> None:
    """The sweep name becomes a folder under storage_path: it must not climb out of it."""
    from finesweep.config.names import name_problem
    from finesweep.errors import ConfigError

    problem = name_problem(sweep, "--name")
    if problem:
        raise ConfigError([problem])


def _check_local_resources(scaling: Any) -> None:
    """When this sweep will start its own local Ray, check a trial fits this machine first, so an
    impossible request fails in milliseconds instead of after Ray's start (about 12 s here)."""
    import ray

    if ray.is_initialized() or os.environ.get("RAY_ADDRESS"):
        return  # a cluster's resources are known only once connected; planning checks them then
    from finesweep.tuning.planning import local_machine_resources, plan_concurrency

    plan_concurrency([local_machine_resources()], scaling, 1)


def _prepare_inputs(loaded: LoadedJob, task: Any) -> tuple[Any, Any, dict[str, float]]:
    """Read and split the data, check and pre-tokenize for the base model, compute baselines."""
    from finesweep.models.lora import check_targets_without_weights
    from finesweep.models.resolve import resolve_base_model

    job = loaded.job
    data = task.prepare_data(loaded)
    task.check_prepared(loaded, data)
    _say(f"data {data.describe()}")
    for warning in getattr(data, "warnings", []):
        _say(f"warning: {warning}")
    base = resolve_base_model(job.model.base, loaded.path.parent)
    if base.kind == "hub":
        from finesweep.errors import ModelError
        from finesweep.models.resolve import hub_unavailable

        problem = hub_unavailable(base.location)
        if problem:
            raise ModelError(problem)
    _preflight_tokenizer(base.location, job.model.trust_remote_code)
    check_targets_without_weights(base.location, job.model.lora_target_modules, job.model.trust_remote_code)
    task.pretokenize(loaded, data, base.location)
    _say(f"base model {base.reference} ({base.kind}: {base.location})")
    baseline = task.baseline_metrics(loaded, data, base.location)
    if baseline:
        _say("baseline (logged on the parent run): " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(baseline.items())))
    return data, base, baseline


def _experiment_dir(loaded: LoadedJob, sweep: str) -> Path | str:
    """The sweep's results: ``<storage_path>/<sweep>``, a local folder or an object-store URI."""
    from finesweep.storage import sweep_location

    return sweep_location(loaded.job.storage_path, sweep)


def _check_resume(tracker: Any, loaded: LoadedJob, sweep: str, resume: bool) -> None:
    """A new sweep needs a fresh name; a resumed one needs its MLflow parent run and Tune state."""
    from ray.tune import Tuner

    from finesweep.storage import for_ray

    exists = tracker.find_parent() is not None
    if exists and not resume:
        raise SweepError(
            f"a sweep named {sweep!r} already exists in experiment {loaded.job.tracking.experiment!r}; "
            f"continue it with `finesweep sweep {loaded.path.name} --name {sweep} --resume` or choose another --name"
        )
    if resume and not exists:
        raise SweepError(f"--resume: no sweep named {sweep!r} in experiment {loaded.job.tracking.experiment!r}")
    if resume and not Tuner.can_restore(*for_ray(_experiment_dir(loaded, sweep))):
        raise SweepError(f"--resume: no Tune state for {sweep!r} under {_experiment_dir(loaded, sweep)}")


@dataclass(frozen=True)
class Console:
    """How much a sweep prints: ``level`` as the job's ``verbose``, and failed trials' tracebacks."""

    level: int = 1
    show_tracebacks: bool = False

    @property
    def tune_verbosity(self) -> int:
        """Tune's own ``verbose``: silent below level 2, its trial table at 2, full results at 3."""
        return max(0, self.level - 1)


def _run_tuner(loaded, task, sweep, tracker, data, base, started, tracking_uri, commit, resume, baseline,
               console: Console, reproduces: Any = None) -> SweepSummary:  # fmt: skip
    """Plan, open the parent run, build the Tuner, fit it, and always close the parent run."""
    import ray

    from finesweep.tracking.callback import MlflowSweepCallback
    from finesweep.tracking.outbox import outbox_for
    from finesweep.tuning.searchers import build_scheduler, build_search

    job = loaded.job
    search = build_search(loaded)
    scheduler, scheduler_text = build_scheduler(loaded)
    plan = _plan(loaded, search)
    _say(f"search: {search.description}; {scheduler_text}")
    _say(f"concurrency: {plan.describe()}; trials run {_runtime_text(job.scaling.runtime)}")
    results = _experiment_dir(loaded, sweep)
    spec = _trial_spec(loaded, base, ray.put(data), data.fingerprint + sweep, results)
    tracker.run_tags = source_tags(loaded, commit)
    if reproduces is not None:  # a reproduction comes from the original's job file, not a temporary copy
        tracker.run_tags.update(reproduces.source_tags)
    tracker.dataset_inputs = _dataset_inputs(loaded, data)
    _open_parent(tracker, loaded, data, base, commit, resume, baseline, results, sweep,
                 reproduces.tags() if reproduces is not None else {})  # fmt: skip
    extra = {"base_model": base.reference, "dataset": data.source, "dataset_fingerprint": data.fingerprint}
    # MLflow writes (a finished trial's model above all) run on one writer thread, off Tune's loop
    outbox = outbox_for(f"{tracking_uri} (sweep {sweep})", say=_say, background=True)
    callbacks = [MlflowSweepCallback(tracker, loaded.params.model_dump(), extra, outbox),
                 _progress(loaded, tracker, console)]  # fmt: skip
    tuner = _tuner(loaded, sweep, spec, search, scheduler, plan, callbacks, resume, console)
    failed = True
    try:
        _fit(tuner, results)
        failed = False
    finally:
        summary = _finish(loaded, sweep, tracker, tracking_uri, started, plan, outbox, results, failed)
    return summary


def _progress(loaded: LoadedJob, tracker: Any, console: Console) -> Any:
    """The console's trial lines, numbered as the trials' MLflow runs are (read once, before Tune starts)."""
    from finesweep.tuning.progress import ConsoleProgress

    tracker.trial_numbers()  # read from MLflow now, before Tune's loop needs them
    return ConsoleProgress(_say, tracker, loaded.job.search.metric, loaded.job.search.mode,
                           list(loaded.space), console.show_tracebacks, level=min(console.level, 1), echo=_echo)  # fmt: skip


def source_tags(loaded: LoadedJob, commit: str | None) -> dict[str, str]:
    """MLflow's own tags for where a run came from (the UI's Source and User columns): the job file,
    the git commit of the folder it lives in, and the user who ran it."""
    import getpass

    tags = {"mlflow.source.name": str(loaded.path), "mlflow.source.type": "LOCAL"}
    if commit:
        tags["mlflow.source.git.commit"] = commit
    try:
        tags["mlflow.user"] = getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (some containers)
        pass
    return tags


def _dataset_inputs(loaded: LoadedJob, data: Any) -> list[Any]:
    """The training/validation/test splits as MLflow dataset inputs; never fails the sweep."""
    from finesweep.tracking.datasets import dataset_inputs

    try:
        return dataset_inputs(data, data_source_record(loaded, data)["data_dir"])
    except Exception as exc:  # noqa: BLE001 - a description of the data is not worth a failed sweep
        _say(f"warning: the data is not logged as MLflow dataset inputs ({type(exc).__name__}: {exc})")
        return []


def _runtime_text(runtime: str) -> str:
    if runtime == "in_trial":
        return "in their Tune trial actors, reused from trial to trial (scaling.trial_runtime: in_trial)"
    return "in Ray Train TorchTrainers (scaling.trial_runtime: train)"


def _plan(loaded: LoadedJob, search: Any) -> Any:
    """How many trials run at once on the connected cluster, with a warning for multi-node storage."""
    from finesweep.tuning.planning import node_resources, plan_concurrency
    from finesweep.tuning.space import grid_size

    job = loaded.job
    total_trials = grid_size(loaded.space) if job.search.algorithm == "grid" else search.num_samples
    nodes = node_resources()
    if len(nodes) > 1 and "://" not in job.storage_path:
        _say(
            f"warning: storage_path {job.storage_path!r} is a local path on a {len(nodes)}-node cluster; "
            "checkpoints written on other nodes will not be found. Use a folder every node mounts at the same path (NFS, EFS)."
        )
    return plan_concurrency(nodes, job.scaling, total_trials)


def _trial_spec(loaded: LoadedJob, base: Any, data_ref: Any, data_key: str, results: Path | str) -> Any:
    """The typed specification every trial of this sweep receives."""
    from finesweep.training.spec import TrialSpec

    job = loaded.job
    return TrialSpec(
        task=job.task,
        data_ref=data_ref,
        data_key=data_key,
        metric=job.search.metric,
        mode=job.search.mode,
        base_model=base,
        lora_target_modules=job.model.lora_target_modules,
        trust_remote_code=job.model.trust_remote_code,
        fixed_params=loaded.params.model_dump(),
        runtime=job.scaling.runtime,
        workers_per_trial=job.scaling.workers_per_trial,
        cpus_per_worker=job.scaling.cpus_per_worker,
        gpus_per_worker=job.scaling.gpus_per_worker,
        max_retries=job.failure.max_retries,
        keep_checkpoints=job.failure.keep_checkpoints,
        storage_path=str(results),
    )


def _open_parent(tracker, loaded, data, base, commit, resume, baseline, results: Path | str, sweep: str,
                 extra_tags: dict[str, str]) -> None:  # fmt: skip
    """Start the sweep's parent run (tags, params, job files, baseline), or reopen it on --resume."""
    job = loaded.job
    if resume:
        tracker.reopen_parent()
        _say(f"resuming sweep {sweep!r}: finished trials are kept, unfinished ones continue from their checkpoints")
        return
    tags = {
        "finesweep.metric": job.search.metric,
        "finesweep.mode": job.search.mode,
        "finesweep.task": job.task,
        "finesweep.job": loaded.name,
        "finesweep.searched": ",".join(loaded.space),
        "finesweep.dataset_fingerprint": data.fingerprint,
        "finesweep.base_model": base.reference,
        "finesweep.storage_path": str(results),
        "finesweep.trial_runtime": job.scaling.runtime,
        **extra_tags,
    }
    tracker.start_parent(tags, _parent_params(loaded))
    _log_parent_files(tracker, loaded, data)
    if baseline:
        tracker.log_parent_metrics(baseline)


def _tuner(loaded: LoadedJob, sweep: str, spec: Any, search: Any, scheduler: Any, plan: Any, callbacks: list[Any],
           resume: bool, console: Console) -> Any:  # fmt: skip
    """A new Tuner, or the interrupted one restored (searcher and ASHA state come back with it)."""
    from ray import tune

    from finesweep.storage import for_ray
    from finesweep.tuning.trainable import run_trial, run_trial_in_process, trial_resources

    job = loaded.job
    function = run_trial_in_process if spec.runtime == "in_trial" else run_trial
    trainable = tune.with_resources(
        tune.with_parameters(function, spec=spec), trial_resources(spec, job.scaling.trial_driver_cpus)
    )
    if resume:
        path, filesystem = for_ray(_experiment_dir(loaded, sweep))
        return tune.Tuner.restore(
            path,
            trainable,
            resume_unfinished=True,
            resume_errored=False,  # trials that exhausted their retries stay failed
            param_space=search.param_space or None,
            storage_filesystem=filesystem,  # None locally; the object store's (credentials from the environment)
        )
    return _new_tuner(trainable, search, scheduler, plan, job, sweep, for_ray(job.storage_path), callbacks,
                      console.tune_verbosity)  # fmt: skip


def _finish(loaded, sweep, tracker, tracking_uri, started, plan, outbox, results: Path | str, failed: bool) -> SweepSummary:
    """Record queued writes, summarise, plot, and close the parent run, whatever fails on the way.

    Runs in the sweep's ``finally``: when Tune itself failed, a second error here must neither
    replace Tune's nor leave the parent run RUNNING, so each step is guarded and the parent run
    is always closed; when Tune succeeded, the first such error is raised after closing it.
    """
    released, leaked = _wait_for_release()
    problems: list[BaseException] = []
    summary = SweepSummary(sweep, tracking_uri, tracker.parent_id or "", loaded.job.search.metric,
                           loaded.job.search.mode, {}, None, None, time.time() - started, plan.max_concurrent,
                           released, leaked, storage_path=str(results))  # fmt: skip
    try:
        _record_queued_writes(outbox, loaded.job.tracking.retry_for_s, results)
        orphans = tracker.close_orphans() if not failed else []
        if orphans:
            _say(f"retired {len(orphans)} trial run(s) the interrupted driver had started but Tune never saved "
                 f"(rerun as new trials; soft-deleted in MLflow): {', '.join(orphans)}")  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - reported below, after the parent run is closed
        problems.append(exc)
    try:
        summary = _summarise(loaded, sweep, tracker, tracking_uri, started, plan.max_concurrent, released, leaked)
    except Exception as exc:  # noqa: BLE001
        problems.append(exc)
    _log_plots(tracking_uri, sweep)
    tags = {**_summary_tags(summary), **({"finesweep.status": "failed"} if failed or problems else {})}
    try:
        tracker.finish_parent(_summary_metrics(summary), tags, failed=failed or bool(problems))
    except Exception as exc:  # noqa: BLE001
        problems.append(exc)
    if problems and failed:
        for problem in problems:  # Tune's own error is the one raised; these are secondary
            _say(f"warning: while closing the failed sweep: {type(problem).__name__}: {problem}")
    elif problems:
        raise problems[0]
    return summary


def _fit(tuner: Any, results: Path | str) -> None:
    """``tuner.fit()``, with a full disk under ``storage_path`` reported as such.

    Tune reads its own experiment state (and each failed trial's pickled error) back after the last
    trial; when the disk filled up those files are truncated and the read fails with EOFError,
    OSError or UnpicklingError, far from the cause.
    """
    import pickle

    try:
        tuner.fit()
    except (EOFError, OSError, pickle.UnpicklingError) as exc:
        # an object store has no local disk to fill; its errors are Tune's own
        if isinstance(results, Path) and out_of_space(results, str(exc)):
            raise SweepError(storage_full_message(results)) from exc
        raise RuntimeError(f"Tune failed: {type(exc).__name__}: {exc}") from exc


_NO_SPACE = ("No space left on device", "Errno 28", "errno 28", "Disk quota exceeded")
_NEARLY_FULL_BYTES = 16 * 2**20  # below this much free space a checkpoint copy is likely to fail


def mentions_no_space(error: str) -> bool:
    """True when an error text says the disk (or the user's quota) is full."""
    return any(marker in error for marker in _NO_SPACE)


def out_of_space(path: Path, error: str = "") -> bool:
    """True when ``error`` says the disk is full or the file system under ``path`` nearly is."""
    import shutil

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


def _record_queued_writes(outbox: Any, retry_for_s: float, results: Path | str) -> None:
    """Write what an MLflow outage queued; if the server does not come back, say exactly what is missing."""
    if outbox.outages:
        _say(f"MLflow writes failed {outbox.outages} time(s) during the sweep (queued and retried)")
    if not outbox.drain(retry_for_s):
        raise TrackingError(
            f"MLflow could not record the sweep within tracking.retry_for_s={retry_for_s:g} s of retrying: "
            f"{outbox.gap()}. Training finished; every trial's results and checkpoints are under {results}"
        )


def _new_tuner(trainable, search, scheduler, plan, job, sweep, storage: tuple[str, Any], callbacks,
               verbosity: int) -> Any:  # fmt: skip
    """A new Tuner; ``storage`` is Ray's ``(storage_path, storage_filesystem)`` (see ``storage.for_ray``)."""
    from ray import tune

    in_trial = job.scaling.runtime == "in_trial"
    return tune.Tuner(
        trainable,
        param_space=search.param_space,
        tune_config=tune.TuneConfig(
            metric=job.search.metric,
            mode=job.search.mode,
            search_alg=search.search_alg,
            scheduler=scheduler,
            num_samples=search.num_samples,
            max_concurrent_trials=plan.max_concurrent,
            # in-trial: the next trial reuses the finished (or ASHA-stopped) trial's warm process
            reuse_actors=in_trial,
            trial_dirname_creator=_trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=sweep,
            storage_path=storage[0],
            storage_filesystem=storage[1],  # None for a local folder: Ray resolves it, as before
            callbacks=callbacks,
            verbose=verbosity,
            # in-trial, Tune restarts a trial whose process died from its latest checkpoint; on the
            # Train path Train's own FailureConfig does (and Tune must not restart it a second time)
            failure_config=tune.FailureConfig(max_failures=job.failure.max_retries if in_trial else 0),
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=job.failure.keep_checkpoints,  # the best by the sweep metric (+ the latest)
                checkpoint_score_attribute=job.search.metric,
                checkpoint_score_order=job.search.mode,
            ),
        ),
    )


def _trial_dirname(trial: Any) -> str:
    """A trial's folder under the sweep's results is its id: checkpoints at <sweep>/<trial id>/."""
    return str(trial.trial_id)


def _log_plots(tracking_uri: str, sweep: str) -> None:
    """Attach the sweep's plots to its parent run; a plotting problem never fails the sweep."""
    from finesweep.tracking.report import log_sweep_plots

    try:
        log_sweep_plots(tracking_uri, sweep)
    except Exception as exc:  # noqa: BLE001 - plots are a convenience; the runs are already recorded
        _say(f"warning: could not render the sweep's plots ({type(exc).__name__}: {exc})")


def _summarise(loaded, sweep, tracker, tracking_uri, started, concurrency, released, leaked) -> SweepSummary:
    from finesweep.tracking.leaderboard import leaderboard

    job = loaded.job
    table, metric, mode = leaderboard(tracking_uri, sweep)
    best_id = table.iloc[0]["trial_id"] if not table.empty else None
    best_value = float(table.iloc[0][metric]) if not table.empty else None
    firsts = sorted(tracker.metric_values("time_to_first_step_s"))  # every trial, pruned ones too
    return SweepSummary(
        name=sweep,
        tracking_uri=tracking_uri,
        parent_run_id=tracker.parent_id,
        metric=job.search.metric,
        mode=job.search.mode,
        statuses=tracker.trial_statuses(),  # from MLflow: includes trials finished before a resume
        errors=tracker.trial_errors(),
        startup=tracker.mean_metrics("startup_"),
        storage_path=str(_experiment_dir(loaded, sweep)),
        best_trial_id=best_id,
        best_value=best_value,
        wall_time_s=time.time() - started,
        max_concurrent=concurrency,
        resources_released=released,
        leaked=leaked,
        mean_time_to_first_step_s=(sum(firsts) / len(firsts)) if firsts else None,
        median_time_to_first_step_s=statistics.median(firsts) if firsts else None,
        experiment_id=tracker.experiment_id or "",
    )


def _summary_metrics(summary: SweepSummary) -> dict[str, float]:
    metrics = {
        "n_trials": len(summary.statuses),
        "n_completed": summary.count("completed"),
        "n_pruned": summary.count("pruned"),
        "n_failed": summary.count("failed"),
        "sweep_wall_time_s": summary.wall_time_s,
        "max_concurrent_trials": summary.max_concurrent,
    }
    if summary.best_value is not None:
        metrics[f"best_{summary.metric}"] = summary.best_value
    if summary.mean_time_to_first_step_s is not None:
        metrics["mean_time_to_first_step_s"] = summary.mean_time_to_first_step_s
    if summary.median_time_to_first_step_s is not None:
        metrics["median_time_to_first_step_s"] = summary.median_time_to_first_step_s
    metrics.update({f"mean_{key}": value for key, value in summary.startup.items()})
    return metrics


def _summary_tags(summary: SweepSummary) -> dict[str, str]:
    tags = {"finesweep.status": "finished", "finesweep.resources_released": str(summary.resources_released)}
    if summary.best_trial_id:
        tags["finesweep.best_trial_id"] = summary.best_trial_id
    return tags
