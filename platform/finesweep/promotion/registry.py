"""Register a sweep's best model and move the ``champion`` alias only when it wins on held-out data.

Task-agnostic: the sweep's task rebuilds its test split and scores each served model on it
(classifiers per text, encoders per query); the decision, the registry and the aliases are the same
for every task.

Aliases replace MLflow's deprecated stages: ``champion`` is what ``predict`` serves, ``previous``
the champion it replaced (``rollback`` swaps them back). With a local SQLite store the whole
promotion runs under an exclusive file lock, so two promotions racing for the same model name
leave the aliases consistent.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from finesweep.errors import ConfigError, PromotionRefused, TrackingError
from finesweep.objective import MetricGoal, parse_constraint
from finesweep.promotion.bootstrap import paired_bootstrap
from finesweep.promotion.choice import choose_challenger
from finesweep.tasks.base import HeldOut
from finesweep.tracking.baselines import recorded_figures
from finesweep.tracking.leaderboard import leaderboard, sweep_parent
from finesweep.tracking.record import recorded_data, resolved_job
from finesweep.tracking.schema import (TAG_DATASET_FINGERPRINT, TAG_GIT_COMMIT, TAG_MODEL_URI, TAG_SOURCE_GIT_COMMIT,
                                       TAG_SWEEP, TAG_TASK, TAG_TRIAL)  # fmt: skip
from finesweep.tracking.store import client

CHAMPION = "champion"
# A challenger "beats" a baseline by more than this: the same ranks score 0.02916666492 as the
# sweep's baseline (float32, torch) and 0.0291666667 in promotion's held-out pass (float64)
FLOOR_TOLERANCE = 1e-6
PREVIOUS = "previous"


@dataclass
class Promotion:
    """What ``promote-best-model`` decided and why."""

    model_name: str
    goal: MetricGoal  # the held-out figure that decided
    challenger_version: str | None
    champion_version: str | None
    promoted: bool
    reason: str
    table: pd.DataFrame
    significance: dict[str, float] | None
    chosen: str = ""  # which trial challenges, and why (the rule on the front and the constraints)
    warnings: list[str] = field(default_factory=list)  # what was read but left out (a baseline tag of nan)


@contextlib.contextmanager
def registry_lock(tracking_uri: str) -> Iterator[None]:
    """An exclusive lock beside a SQLite store (no-op for servers, which serialise writes themselves)."""
    if not tracking_uri.startswith("sqlite:///"):
        yield
        return
    lock_path = Path(tracking_uri.removeprefix("sqlite:///") + ".registry.lock")
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _alias_version(mlflow_client: Any, model_name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(mlflow_client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException:
        return None


def _register(mlflow_client: Any, model_name: str, run: Any, model_uri: str, tags: dict[str, str]) -> str:
    """Register the run's model once; a second promotion of the same run reuses its version."""
    from mlflow.exceptions import MlflowException

    try:
        mlflow_client.get_registered_model(model_name)
    except MlflowException:
        mlflow_client.create_registered_model(model_name, description="Registered by finesweep promote-best-model")
    existing = mlflow_client.search_model_versions(f"name='{model_name}' and run_id='{run.info.run_id}'")
    if existing:
        return str(existing[0].version)
    source, model_id = model_uri, None
    if model_uri.startswith("models:/m-"):
        # MLflow's registry resolves a models:/<id> source through the *global* tracking URI (a
        # TODO in its SQL store); the client's own store resolves it here instead
        model_id = model_uri.removeprefix("models:/").split("/")[0]
        source = mlflow_client.get_logged_model(model_id).artifact_location
    version = mlflow_client.create_model_version(model_name, source, run_id=run.info.run_id, tags=tags, model_id=model_id)
    if model_id is not None:
        _link_logged_model(mlflow_client, model_id, model_name, str(version.version))
    return str(version.version)


def _link_logged_model(mlflow_client: Any, model_id: str, model_name: str, version: str) -> None:
    """Record the version on the logged model (``mlflow.modelVersions``), as ``mlflow.register_model``
    does: the UI's logged-model page lists its registered versions from that tag."""
    import json

    from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS

    model = mlflow_client.get_logged_model(model_id)
    versions = json.loads(model.tags.get(MLFLOW_MODEL_VERSIONS, "[]")) + [{"name": model_name, "version": version}]
    mlflow_client.set_logged_model_tags(model_id, {MLFLOW_MODEL_VERSIONS: json.dumps(versions)})


def _figures(evaluation: HeldOut) -> dict[str, float]:
    return {**evaluation.metrics, "size_mb": evaluation.size_mb, **evaluation.latency_ms}


def _table(challenger: HeldOut, champion: HeldOut | None, versions: tuple[str, str | None],
           floors: tuple[Floor, ...] = ()) -> pd.DataFrame:  # fmt: skip
    table = pd.DataFrame({f"challenger (v{versions[0]})": _figures(challenger)})
    if champion is not None:
        table[f"champion (v{versions[1]})"] = pd.Series(_figures(champion))
        table["difference"] = table.iloc[:, 0] - table.iloc[:, 1]
    for floor in floors:
        table[f"{floor.name} baseline"] = pd.Series(floor.figures)
    return table


@dataclass(frozen=True)
class Floor:
    """One baseline a challenger must beat on the held-out split: its test figures as the sweep
    recorded them (``test_macro_f1``: 0.08, ...) and what losing to it means."""

    name: str  # the prefix's middle: trivial, bm25, untuned
    figures: dict[str, float]
    meaning: str


def guard_floors(task: Any, figures: dict[str, float]) -> tuple[Floor, ...]:
    """The task's guard baselines (``Task.guard_baselines``) that the sweep recorded among its
    baseline ``figures``; empty for tasks without one and for sweeps recorded before baselines were."""
    floors = []
    for prefix, meaning in task.guard_baselines:
        test = {name.removeprefix(prefix): value for name, value in figures.items() if name.startswith(f"{prefix}test_")}
        if test:
            floors.append(Floor(prefix.removeprefix("baseline_").rstrip("_"), test, meaning))
    return tuple(floors)


def _verdict(promoted: bool, reason: str, floor_problem: str | None, force: bool) -> tuple[bool, str]:
    """The decision from the champion comparison's (``promoted``, ``reason``) and the floor's
    problem (None: the challenger beats every guard baseline): refused when either refuses, unless ``force``."""
    refusals = [problem for problem in (floor_problem, None if promoted else reason) if problem]
    if not refusals:
        return True, reason
    if force:
        return True, "forced: " + "; ".join(refusals + ([reason] if promoted else []))
    return False, "; and ".join(refusals)


def _below_floor(goal: MetricGoal, challenger: HeldOut, floors: tuple[Floor, ...]) -> str | None:
    """Why the challenger does not beat the best of the guard baselines on the deciding held-out
    figure, or None."""
    value = challenger.metrics.get(goal.metric)
    scored = [(floor, floor.figures[goal.metric]) for floor in floors if goal.metric in floor.figures]
    if value is None or not scored:
        return None
    floor, best = max(scored, key=lambda pair: goal.gain(pair[1]))
    if goal.gain(value) - goal.gain(best) > FLOOR_TOLERANCE:
        return None
    return f"the challenger's {goal.metric} {value:.4f} does not beat the {floor.name} baseline's {best:.4f} ({floor.meaning})"


def _decide(
    delta: float, goal: MetricGoal, min_delta: float, significance: dict | None, require_significant: bool, alpha: float
) -> tuple[bool, str]:
    gain = goal.gain(delta)
    if gain < min_delta:
        return False, f"the challenger's gain {gain:+.4f} is below --min-delta {min_delta:g}"
    if require_significant and significance is not None and significance["p_value"] > alpha:
        return False, f"the gain is not significant (paired bootstrap p={significance['p_value']:.3f} > {alpha:g})"
    return True, f"the challenger wins by {gain:+.4f} (>= {min_delta:g})"


def sweep_test_split(tracking_uri: str, parent_run_id: str, task: Any = None, job: dict | None = None) -> Any:
    """The test split a sweep held out, rebuilt by its task from the sweep's own record (its
    resolved dataset section, and its data where the sweep found it)."""
    from finesweep.config.schema import DatasetConfig
    from finesweep.tasks import get_task

    job = job if job is not None else resolved_job(tracking_uri, parent_run_id)
    task = task or get_task(job.get("task", "text_classification"))
    with recorded_data(tracking_uri, parent_run_id):
        return task.held_out_split(DatasetConfig.model_validate(job["dataset"]))


def check_promotion_options(metric: str | None, min_delta: float | None, alpha: float | None,
                            constraints: tuple[str, ...] = ()) -> None:
    """Refuse options that would make the held-out comparison meaningless, all at once: a
    ``min_delta`` that is not a finite number >= 0 (``nan`` compares false with everything, so a
    losing challenger would "win"), an ``alpha`` outside (0, 1), and selection by a ``test_*``
    metric or constraint (the challenger would be chosen on the very split that then judges it)."""
    from finesweep.objective.constraints import promotion_constraint_problems

    problems = promotion_constraint_problems(constraints, "constraints")
    if min_delta is not None and not (math.isfinite(min_delta) and min_delta >= 0):
        problems.append(f"--min-delta: must be a finite number >= 0 (got {min_delta})")
    if alpha is not None and not (math.isfinite(alpha) and 0 < alpha < 1):
        problems.append(f"alpha: must be between 0 and 1, exclusive (got {alpha})")
    if metric is not None and metric.startswith("test_"):
        problems.append(
            f"--metric: {metric} is measured on the held-out test split, which decides the promotion; choose the "
            f"challenger by a validation metric (val_{metric.removeprefix('test_')})"
        )
    if problems:
        raise ConfigError(problems)


def promote_best_model(
    tracking_uri: str,
    sweep: str,
    model_name: str,
    metric: str | None = None,
    min_delta: float | None = None,
    dry_run: bool = False,
    force: bool = False,
    require_significant: bool | None = None,
    alpha: float | None = None,
    constraints: tuple[str, ...] = (),
) -> Promotion:
    """Register the sweep's best completed trial and make it champion if it beats the current one.

    The challenger is chosen by :func:`~finesweep.promotion.choice.choose_challenger`: the best by
    ``metric`` (default: the sweep's primary goal, in its own direction) among the trials that meet
    the sweep's constraints and ``constraints`` (and, with several objectives, on the Pareto front).
    Raises :class:`PromotionRefused` (after registering the version, unless ``dry_run``) when the
    challenger does not win, or does not beat the best of the task's guard baselines on the held-out
    split as the sweep logged them (a classifier's trivial baseline; a retriever's BM25 and untuned
    base), even with no champion yet; ``force`` promotes anyway. ``min_delta``,
    ``require_significant`` and ``alpha`` default to the sweep job's ``promotion`` section.
    """
    from finesweep.serving.loading import load_model
    from finesweep.tasks import get_task

    check_promotion_options(metric, min_delta, alpha, constraints)
    mlflow_client = client(tracking_uri)
    board = leaderboard(tracking_uri, sweep, metric)
    parent = sweep_parent(mlflow_client, sweep)
    task = get_task(board.task)
    choice = choose_challenger(board, task, tuple(parse_constraint(c) for c in constraints), force)
    metric = board.goal.metric
    run = mlflow_client.get_run(choice.run_id)
    model_uri = run.data.tags.get(TAG_MODEL_URI)
    if not model_uri:
        raise TrackingError(f"trial {run.data.tags.get(TAG_TRIAL)} logged no model (was it pruned or failed?)")
    job = resolved_job(tracking_uri, parent.info.run_id)
    policy = job.get("promotion") or {}
    min_delta = policy.get("min_delta", 0.0) if min_delta is None else min_delta
    require_significant = policy.get("require_significant", False) if require_significant is None else require_significant
    alpha = policy.get("alpha", 0.05) if alpha is None else alpha
    split = sweep_test_split(tracking_uri, parent.info.run_id, task, job)
    deciding = choice.deciding
    test_metric = deciding.metric
    challenger = task.evaluate_held_out(load_model(model_uri, tracking_uri=tracking_uri), split)
    if test_metric not in challenger.metrics:
        raise TrackingError(f"--metric: {metric} has no held-out counterpart; compared: {', '.join(sorted(challenger.metrics))}")
    floors = guard_floors(task, recorded_figures(parent))  # the board's warnings name what it leaves out
    floor_problem = _below_floor(deciding, challenger, floors)
    lock = contextlib.nullcontext() if dry_run else registry_lock(tracking_uri)
    with lock:
        champion_version = _alias_version(mlflow_client, model_name, CHAMPION)
        champion = None
        if champion_version is not None:
            served = load_model(f"models:/{model_name}/{champion_version}", tracking_uri=tracking_uri)
            champion = task.evaluate_held_out(served, split)
        tags = {
            TAG_SWEEP: sweep,
            TAG_TASK: task.name,
            TAG_TRIAL: run.data.tags.get(TAG_TRIAL, ""),
            TAG_DATASET_FINGERPRINT: split.fingerprint,
            TAG_GIT_COMMIT: parent.data.tags.get(TAG_SOURCE_GIT_COMMIT, "unknown"),
            metric: str(run.data.metrics.get(metric)),
            **{name: f"{value:.6f}" for name, value in challenger.metrics.items()},
        }
        version = None if dry_run else _register(mlflow_client, model_name, run, model_uri, tags)
        table = _table(challenger, champion, (version or "new", champion_version), floors)
        significance = None
        if champion is None:
            promoted, reason = True, "there is no champion yet"
        else:
            delta = challenger.metrics[test_metric] - champion.metrics[test_metric]
            if test_metric in challenger.bootstrappable:
                significance = paired_bootstrap(challenger, champion, test_metric)
            promoted, reason = _decide(delta, deciding, min_delta, significance, require_significant, alpha)
        # the floor stands under any champion comparison, the first one included
        promoted, reason = _verdict(promoted, reason, floor_problem, force)
        if promoted and not dry_run and version != champion_version:
            if champion_version is not None:
                mlflow_client.set_registered_model_alias(model_name, PREVIOUS, champion_version)
            mlflow_client.set_registered_model_alias(model_name, CHAMPION, version)
    outcome = Promotion(model_name, deciding, version, champion_version, promoted, reason, table,
                        significance, choice.reason, board.warnings)  # fmt: skip
    if not promoted:
        raise PromotionRefused(reason, outcome)
    return outcome


def rollback(tracking_uri: str, model_name: str) -> tuple[str, str]:
    """Swap ``champion`` and ``previous``; return (new champion version, new previous version)."""
    from mlflow.exceptions import MlflowException

    mlflow_client = client(tracking_uri)
    try:
        mlflow_client.get_registered_model(model_name)
    except MlflowException:
        raise TrackingError(f"--model-name: no registered model named {model_name!r} in {tracking_uri}") from None
    with registry_lock(tracking_uri):
        champion = _alias_version(mlflow_client, model_name, CHAMPION)
        previous = _alias_version(mlflow_client, model_name, PREVIOUS)
        if previous is None or champion is None:
            raise TrackingError(f"model {model_name!r} has no {PREVIOUS!r} version to roll back to")
        mlflow_client.set_registered_model_alias(model_name, CHAMPION, previous)
        mlflow_client.set_registered_model_alias(model_name, PREVIOUS, champion)
    return previous, champion
