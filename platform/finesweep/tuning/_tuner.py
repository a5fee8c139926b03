"""The Tune side of a sweep: its searcher and scheduler, the trials' spec, concurrency, and the
Tuner (new, restored on ``--resume``, or new in the same folder for ``--more``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from finesweep.tuning._output import say
from finesweep.tuning._state import SweepState

if TYPE_CHECKING:
    from finesweep.config.loader import LoadedJob


@dataclass
class TunerParts:
    """What the Tuner is built from, kept for the summary and for tests."""

    search: Any  # finesweep.tuning.search.build.SearchPlan
    scheduler: Any
    plan: Any  # finesweep.tuning.execution.planning.ConcurrencyPlan
    spec: Any  # finesweep.training.spec.TrialSpec


def tuner_parts(state: SweepState) -> TunerParts:
    """Searcher, scheduler, concurrency and trial spec of this run of the sweep; printed as they are."""
    import ray

    from finesweep.tuning.search.build import SearchRequest, build_scheduler, build_search, default_request

    loaded = state.loaded
    request = default_request(loaded)
    if state.options.more:  # a new seed for the extension, so its random start is not a replay
        request = SearchRequest(state.options.more, tuple(state.prior.trials), seed_offset=state.extension)
    elif state.prior is not None and state.prior.trials:
        request = SearchRequest(request.num_samples, tuple(state.prior.trials))
    search = build_search(loaded, request)
    if loaded.job.search.budget is not None:
        from finesweep.tuning.search.budget import Budgeted

        search.search_alg = Budgeted(search.search_alg, state.name) if search.search_alg is not None else None
    scheduler, scheduler_text = build_scheduler(loaded)
    plan = _plan(state, search.num_samples)
    say(f"objective: {state.objective.describe()}")
    say(f"search: {search.description}; {scheduler_text}")
    for note in search.notes:
        say(f"note: {note}")
    if loaded.job.search.budget is not None:
        say(_budget(state).describe())
    say(f"concurrency: {plan.describe()}; trials run {_runtime_text(loaded.job.scaling.runtime)}; "
        f"{_precision_text(loaded)}")
    spec = trial_spec(state, ray.put(state.data))
    return TunerParts(search, scheduler, plan, spec)


def _budget(state: SweepState) -> Any:
    from finesweep.tuning.search.budget import Budget

    config = state.loaded.job.search.budget
    return Budget(config.wall_s, config.trial_epochs)


def start_budget(state: SweepState) -> Any:
    """The budget ledger of this run, or None when the job sets no budget."""
    if state.loaded.job.search.budget is None:
        return None
    from finesweep.tuning.search.budget import start_ledger

    return start_ledger(_budget(state), state.name, state.started)


def _runtime_text(runtime: str) -> str:
    if runtime == "replay":
        return "as replays of recorded learning curves, in reused Tune trial actors (scaling.trial_runtime: replay)"
    if runtime == "in_trial":
        return "in their Tune trial actors, reused from trial to trial (scaling.trial_runtime: in_trial)"
    return "in Ray Train TorchTrainers (scaling.trial_runtime: train)"


def _plan(state: SweepState, total_trials: int) -> Any:
    """How many trials run at once on the connected cluster, with a warning for multi-node storage."""
    from finesweep.tuning.execution.planning import node_resources, plan_concurrency

    job = state.loaded.job
    nodes = node_resources()
    if len(nodes) > 1 and "://" not in job.storage_path:
        say(
            f"warning: storage_path {job.storage_path!r} is a local path on a {len(nodes)}-node cluster; "
            "checkpoints written on other nodes will not be found. Use a folder every node mounts at the same path (NFS, EFS)."
        )
    return plan_concurrency(nodes, job.scaling, total_trials)


def trial_spec(state: SweepState, data_ref: Any) -> Any:
    """The typed specification every trial of this sweep receives."""
    from finesweep.training.spec import TrialSpec

    job = state.loaded.job
    budget = None
    if job.search.budget is not None:
        from finesweep.tuning.search.budget import BudgetSignal

        budget = BudgetSignal(state.name)
    return TrialSpec(
        task=job.task,
        data_ref=data_ref,
        data_key=state.data.fingerprint + state.name,
        objective=state.objective,
        base_model=state.base,
        lora_target_modules=job.model.lora_target_modules,
        trust_remote_code=job.model.trust_remote_code,
        fixed_params=state.loaded.params.model_dump(),
        runtime=job.scaling.runtime,
        workers_per_trial=job.scaling.workers_per_trial,
        cpus_per_worker=job.scaling.cpus_per_worker,
        gpus_per_worker=job.scaling.gpus_per_worker,
        max_retries=job.failure.max_retries,
        keep_checkpoints=job.failure.keep_checkpoints,
        oom_retry=oom_retry_mode(job.failure.oom_retry, job.task),
        storage_path=str(state.results),
        budget=budget,
        replay=_replay(state.loaded),
        settings=state.settings,
    )


def oom_retry_mode(setting: str, task_name: str) -> Any:
    """``failure.oom_retry`` as the loop applies it (a ``training.memory.OomRetry``): ``auto`` is
    ``exact`` for classification tasks, whose loss is a mean over examples, and ``never`` for the
    others (in-batch negatives and batch-level regularisers change with the batch)."""
    if setting != "auto":
        return "always" if setting == "on" else "never"
    from finesweep.tasks import get_task
    from finesweep.tasks.text_classification import TextClassificationTask

    return "exact" if isinstance(get_task(task_name), TextClassificationTask) else "never"


def _replay(loaded: Any) -> Any:
    """The curve table replay trials report from (read once here), or None for trained trials."""
    config = loaded.job.replay
    if loaded.job.scaling.runtime != "replay" or config is None:
        return None
    from finesweep.replay.table import read_table
    from finesweep.tuning.execution.replay import Replay

    return Replay(read_table(loaded.resolve_path(config.table)), config.time_scale)


def build_tuner(state: SweepState, parts: TunerParts, callbacks: list[Any]) -> Any:
    """A new Tuner, or the interrupted one restored (searcher and scheduler state come back with it).
    ``--more`` builds a new Tuner in the sweep's own folder, so a later ``--resume`` finds it."""
    from ray import tune

    from finesweep.storage import for_ray
    from finesweep.tuning.execution.replay import run_replay_trial
    from finesweep.tuning.execution.trainable import run_trial, run_trial_in_process, trial_resources

    job, spec = state.loaded.job, parts.spec
    function = {"in_trial": run_trial_in_process, "replay": run_replay_trial}.get(spec.runtime, run_trial)
    trainable = tune.with_resources(
        tune.with_parameters(function, spec=spec), trial_resources(spec, job.scaling.trial_driver_cpus)
    )
    if state.options.resume and not state.options.more:
        path, filesystem = for_ray(state.results)
        return tune.Tuner.restore(
            path,
            trainable,
            resume_unfinished=True,
            resume_errored=False,  # trials that exhausted their retries stay failed
            param_space=parts.search.param_space or None,
            storage_filesystem=filesystem,  # None locally; the object store's (credentials from the environment)
        )
    return _new_tuner(state, parts, trainable, callbacks)


def _new_tuner(state: SweepState, parts: TunerParts, trainable: Any, callbacks: list[Any]) -> Any:
    from ray import tune

    from finesweep.storage import for_ray

    job, objective = state.loaded.job, state.objective
    storage_path, storage_filesystem = for_ray(job.storage_path)
    in_trial = job.scaling.runtime in ("in_trial", "replay")  # one process per trial, reused
    # one metric for Tune itself (ASHA, its result grid); several objectives are the searcher's and
    # MO-ASHA's own, so Tune gets none
    metric, mode = (None, None) if objective.multi else (objective.primary.metric, objective.primary.mode)
    return tune.Tuner(
        trainable,
        param_space=parts.search.param_space,
        tune_config=tune.TuneConfig(
            metric=metric,
            mode=mode,
            search_alg=parts.search.search_alg,
            scheduler=parts.scheduler,
            num_samples=parts.search.num_samples,
            max_concurrent_trials=parts.plan.max_concurrent,
            # in-trial: the next trial reuses the finished (or ASHA-stopped) trial's warm process
            reuse_actors=in_trial,
            trial_dirname_creator=_trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=state.name,
            storage_path=storage_path,
            storage_filesystem=storage_filesystem,  # None for a local folder: Ray resolves it
            callbacks=callbacks,
            verbose=state.console.tune_verbosity,
            # in-trial, Tune restarts a trial whose process died from its latest checkpoint; on the
            # Train path Train's own FailureConfig does (and Tune must not restart it a second time)
            failure_config=tune.FailureConfig(max_failures=job.failure.max_retries if in_trial else 0),
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=job.failure.keep_checkpoints,  # the best by the primary goal (+ the latest)
                checkpoint_score_attribute=objective.primary.metric,
                checkpoint_score_order=objective.primary.mode,
            ),
        ),
    )


def _trial_dirname(trial: Any) -> str:
    """A trial's folder under the sweep's results is its id: checkpoints at <sweep>/<trial id>/."""
    return str(trial.trial_id)


def _precision_text(loaded: LoadedJob) -> str:
    from finesweep.training.precision import describe_choice

    requested = str(getattr(loaded.params, "mixed_precision", "no"))
    return describe_choice(requested, loaded.job.scaling.gpus_per_worker > 0, "mixed_precision" in loaded.space)
