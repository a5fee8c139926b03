"""Closing a sweep: queued MLflow writes, the summary, the Pareto and feasibility tags, plots, and
the parent run's end, whatever fails on the way."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from finesweep.errors import TrackingError
from finesweep.tracking.schema import (TAG_BEST_TRIAL_ID, TAG_ENDED_BY, TAG_FEASIBLE, TAG_PARETO, TAG_PARETO_FRONT,
                                       TAG_RESOURCES_RELEASED, TAG_STATUS, TAG_TRIAL, TAG_VERDICT, TAG_VIOLATIONS)  # fmt: skip
from finesweep.tuning._output import say
from finesweep.tuning._state import SweepState
from finesweep.tuning.summary import SweepSummary

# Resources Ray reports that are not handed out to tasks; ignored by the leak check.
_UNTRACKED = ("memory", "object_store_memory")


@dataclass
class Closing:
    """What the end of a sweep needs besides its state."""

    plan: Any  # the ConcurrencyPlan
    outbox: Any
    failed: bool
    before: RaySnapshot | None = None  # what was alive on the cluster when the sweep started
    ended_by: str = "trials"  # "trials" (num_samples or the space ran out), "budget.wall", "budget.trial_epochs"
    interrupted: bool = False  # Ctrl-C: Tune stopped its trials and saved its state for --resume
    hurried: bool = False  # a second Ctrl-C: close the record now, without waiting for Ray to free the trials


def finish(state: SweepState, closing: Closing) -> SweepSummary:
    """Record queued writes, summarise, tag, plot, and close the parent run.

    Runs in the sweep's ``finally``: when Tune itself failed, a second error here must neither
    replace Tune's nor leave the parent run RUNNING, so each step is guarded and the parent run
    is always closed; when Tune succeeded, the first such error is raised after closing it.
    """
    # after a second Ctrl-C the trials' actors are not stopped by Tune: they end with Ray (a local
    # one is shut down next; a cluster ends a dead driver's actors), so one look, no 60 s wait
    released, leaked = wait_for_release(closing.before, timeout_s=0.0 if closing.hurried else 60.0)
    problems: list[BaseException] = []
    summary = SweepSummary(state.name, state.tracking_uri, state.tracker.parent.run_id or "", state.objective, {},
                           wall_time_s=time.time() - state.started, max_concurrent=closing.plan.max_concurrent,
                           resources_released=released, leaked=leaked, storage_path=str(state.results))  # fmt: skip
    for step in (_drain, _mark_interrupted):
        try:
            step(state, closing)
        except Exception as exc:  # noqa: BLE001 - reported below, after the parent run is closed
            problems.append(exc)
    snapshot = None
    try:
        snapshot = _retire_orphans(state, closing, _read_once(state))  # every later step reads this snapshot
        summary = summarise(state, closing, released, leaked, snapshot)
        _tag_trials(state, summary, snapshot)
        summary.verdict = _verdict(state, summary, snapshot)
    except Exception as exc:  # noqa: BLE001
        problems.append(exc)
    if snapshot is not None and not closing.hurried:  # after a second Ctrl-C, --resume draws them
        _log_plots(state, snapshot)
    failed = closing.failed or bool(problems)
    tags = _summary_tags(summary, failed)
    if closing.interrupted:
        tags[TAG_STATUS] = "interrupted"
        tags[TAG_ENDED_BY] = "interrupted"  # Ctrl-C, not its trials or a budget
    try:
        state.tracker.parent.finish(_summary_metrics(summary), tags, failed=failed, interrupted=closing.interrupted)
    except Exception as exc:  # noqa: BLE001
        problems.append(exc)
    if problems and closing.failed:
        for problem in problems:  # Tune's own error is the one raised; these are secondary
            say(f"warning: while closing the failed sweep: {type(problem).__name__}: {problem}")
    elif problems:
        raise problems[0]
    return summary


@dataclass(frozen=True)
class RaySnapshot:
    """The placement groups and actors alive before the sweep: on a shared cluster, other jobs' are
    never counted as this sweep's leak."""

    groups: frozenset[str]
    actors: frozenset[str]


def ray_snapshot() -> RaySnapshot:
    """What is alive on the cluster now (nothing where this process is not connected to one)."""
    import ray

    if not ray.is_initialized():
        return RaySnapshot(frozenset(), frozenset())
    return RaySnapshot(frozenset(_alive_groups()), frozenset(_alive_actors()))


def _alive_groups() -> dict[str, dict[str, float]]:
    from ray.util.placement_group import placement_group_table

    table = placement_group_table()
    return {pg: _bundle_total(info) for pg, info in table.items() if info.get("state") not in ("REMOVED",)}


def _bundle_total(info: dict[str, Any]) -> dict[str, float]:
    total: dict[str, float] = {}
    for bundle in (info.get("bundles") or {}).values():
        for key, value in bundle.items():
            total[key] = total.get(key, 0.0) + float(value)
    return total


def _alive_actors() -> dict[str, str]:
    """Alive actors and their class names (empty where Ray's state API is unavailable)."""
    from finesweep.tuning.execution.ray_runtime import state_api_address

    try:
        from ray.util.state import list_actors

        # callers look only while connected: the connected cluster's address, never Ray's lookup
        alive = list_actors(address=state_api_address(), filters=[("state", "=", "ALIVE")], limit=10_000, timeout=10)
        return {a.actor_id: a.class_name for a in alive}
    except Exception:  # noqa: BLE001 - no dashboard (a cluster without it): placement groups still tell
        return {}


def wait_for_release(before: RaySnapshot | None = None, timeout_s: float = 60.0) -> tuple[bool, dict[str, float]]:
    """Wait until the placement groups and actors this sweep created are gone; return (released,
    what they still hold: resources by name, and ``actors`` counted). ``before`` is what was alive
    when the sweep started (None: nothing was)."""
    import ray

    if not ray.is_initialized():  # nothing of this process's is on a cluster (and Ray's state API would wait 40 s)
        return True, {}
    before = before or RaySnapshot(frozenset(), frozenset())
    deadline = time.time() + timeout_s
    while True:
        groups = {pg: res for pg, res in _alive_groups().items() if pg not in before.groups}
        actors = {a: name for a, name in _alive_actors().items() if a not in before.actors}
        held: dict[str, float] = {}
        for resources in groups.values():
            for key, value in resources.items():
                if key not in _UNTRACKED:
                    held[key] = held.get(key, 0.0) + value
        if actors:
            held["actors"] = float(len(actors))
        if not held or time.time() > deadline:
            return not held, held
        time.sleep(0.5)


def _drain(state: SweepState, closing: Closing) -> None:
    """Write what an MLflow outage queued; if the server does not come back, say what is missing."""
    from finesweep.tracking.outbox import TrackingBug

    outbox, retry_for_s = closing.outbox, state.loaded.job.tracking.retry_for_s
    if outbox.failure is not None:
        raise TrackingBug(outbox.failure)
    if outbox.outages:
        say(f"MLflow writes failed {outbox.outages} time(s) during the sweep (queued and retried)")
    if not outbox.drain(retry_for_s):
        raise TrackingError(
            f"MLflow could not record the sweep within tracking.retry_for_s={retry_for_s:g} s of retrying: "
            f"{outbox.gap()}. Training finished; every trial's results and checkpoints are under {state.results}"
        )


def _mark_interrupted(state: SweepState, closing: Closing) -> None:
    if closing.interrupted:
        state.tracker.trials.mark_interrupted()


def _read_once(state: SweepState) -> Any:
    """The sweep's parent and trial runs, read from MLflow once after Tune (every trial, those
    before a resume included)."""
    from finesweep.tracking.snapshot import read_sweep

    return read_sweep(state.tracker.client, state.name)


def _retire_orphans(state: SweepState, closing: Closing, snapshot: Any) -> Any:
    """Retire trial runs left RUNNING by an earlier, killed driver; the snapshot without them."""
    if closing.failed or closing.interrupted:
        return snapshot
    orphans = state.tracker.trials.close_orphans(list(snapshot.trials))
    if orphans:
        names = ", ".join(run.data.tags.get(TAG_TRIAL, run.info.run_id) for run in orphans)
        say(f"retired {len(orphans)} trial run(s) the interrupted driver had started but Tune never saved "
            f"(rerun as new trials; soft-deleted in MLflow): {names}")  # fmt: skip
    return snapshot.without({run.info.run_id for run in orphans})


def summarise(state: SweepState, closing: Closing, released: bool, leaked: dict[str, float], snapshot: Any) -> SweepSummary:
    """The sweep's summary from its snapshot (every trial, those before a resume included)."""
    from finesweep.tracking.leaderboard import rank

    tracker = state.tracker
    everything = rank(snapshot, include_pruned=True)  # what the CLI prints
    board = rank(snapshot)
    best = board.table.iloc[0] if not board.table.empty else None
    firsts = sorted(snapshot.metric_values("time_to_first_step_s"))  # every trial, pruned ones too
    return SweepSummary(
        name=state.name,
        tracking_uri=state.tracking_uri,
        parent_run_id=tracker.parent.run_id,
        objective=state.objective,
        statuses=snapshot.statuses(),
        errors=snapshot.errors(tracker.trials.remembered_errors),
        startup=snapshot.mean_metrics("startup_"),
        board=everything,
        storage_path=str(state.results),
        best_trial_id=None if best is None else best["trial_id"],
        best_value=None if best is None else float(best[state.objective.primary.metric]),
        front=list(board.front),
        infeasible=int((~board.table["feasible"].astype(bool)).sum()) if "feasible" in board.table else 0,
        ended_by=closing.ended_by,
        warm_started=len(state.prior.trials) if state.prior is not None and not state.options.more else 0,
        wall_time_s=time.time() - state.started,
        max_concurrent=closing.plan.max_concurrent,
        resources_released=released,
        leaked=leaked,
        mean_time_to_first_step_s=(sum(firsts) / len(firsts)) if firsts else None,
        median_time_to_first_step_s=statistics.median(firsts) if firsts else None,
        experiment_id=tracker.parent.experiment_id or "",
    )


def _tag_trials(state: SweepState, summary: Any, snapshot: Any) -> None:
    """Tag each completed trial on or off the Pareto front (several objectives) and feasible or
    not (constraints), so MLflow's runs table can filter on them."""
    objective = state.objective
    if not objective.multi and not objective.constraints:
        return
    for run in snapshot.with_status("completed"):
        tags = {}
        if objective.multi:
            tags[TAG_PARETO] = str(run.data.tags.get(TAG_TRIAL) in summary.front).lower()
        if objective.constraints:
            violations = objective.violations(run.data.metrics)
            tags[TAG_FEASIBLE] = str(not violations).lower()
            tags[TAG_VIOLATIONS] = "; ".join(violations) or "none"
        state.tracker.trials.set_tags(run.info.run_id, tags)


def _log_plots(state: SweepState, snapshot: Any) -> None:
    """Attach the sweep's plots to its parent run; a plotting problem never fails the sweep."""
    from finesweep.tracking.report import log_sweep_plots

    try:
        log_sweep_plots(state.tracker.client, snapshot)
    except Exception as exc:  # noqa: BLE001 - plots are a convenience; the runs are already recorded
        say(f"warning: could not render the sweep's plots ({type(exc).__name__}: {exc})")


def _summary_metrics(summary: Any) -> dict[str, float]:
    metrics = {
        "n_trials": len(summary.statuses),
        "n_completed": summary.count("completed"),
        "n_pruned": summary.count("pruned"),
        "n_failed": summary.count("failed"),
        "sweep_wall_time_s": summary.wall_time_s,
        "max_concurrent_trials": summary.max_concurrent,
    }
    if summary.best_value is not None:
        metrics[f"best_{summary.objective.primary.metric}"] = summary.best_value
    if summary.objective.multi:
        metrics["pareto_front_size"] = len(summary.front)
    if summary.objective.constraints:
        metrics["n_infeasible"] = summary.infeasible
    if summary.mean_time_to_first_step_s is not None:
        metrics["mean_time_to_first_step_s"] = summary.mean_time_to_first_step_s
    if summary.median_time_to_first_step_s is not None:
        metrics["median_time_to_first_step_s"] = summary.median_time_to_first_step_s
    metrics.update({f"mean_{key}": value for key, value in summary.startup.items()})
    return metrics


def _summary_tags(summary: Any, failed: bool) -> dict[str, str]:
    status = "failed" if failed else ("budget_spent" if summary.ended_by.startswith("budget") else "finished")
    tags = {TAG_STATUS: status, TAG_RESOURCES_RELEASED: str(summary.resources_released),
            TAG_ENDED_BY: summary.ended_by}  # fmt: skip
    if summary.best_trial_id:
        tags[TAG_BEST_TRIAL_ID] = summary.best_trial_id
    if summary.objective.multi:
        tags[TAG_PARETO_FRONT] = ",".join(summary.front)
    if summary.verdict:
        tags[TAG_VERDICT] = summary.verdict
    return tags


def _verdict(state: SweepState, summary: SweepSummary, snapshot: Any) -> str:
    """The sweep's verdict line (see :mod:`finesweep.tracking.verdict`), from the summary's board,
    the trials, the searched space, the training split's examples per label and ASHA's first rung."""
    from finesweep.tracking.verdict import sweep_verdict

    if summary.board is None or summary.objective.multi:  # several objectives: no one best trial to judge
        return ""
    space = {name: spec.model_dump() for name, spec in state.loaded.space.items()}
    counts = state.data.summary().get("train_class_counts", {}) if state.data is not None else {}
    scheduler = state.loaded.job.scheduler
    first_rung = float(scheduler.grace_period) if scheduler.type == "asha" else None
    try:
        return sweep_verdict(summary.board, list(snapshot.trials), space, counts, first_rung)
    except Exception as exc:  # noqa: BLE001 - the verdict reads the record; it never fails the sweep it judges
        say(f"warning: no verdict ({type(exc).__name__}: {exc})")
        return ""
