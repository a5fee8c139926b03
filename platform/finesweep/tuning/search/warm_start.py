"""Earlier trials as the searcher's prior: a warm start from other sweeps, or a sweep's own trials
when ``--more`` extends it.

A warm start takes the completed trials of each source sweep that match this one: the same task,
the same objective metrics, every searched value inside the current space, and (unless
``search.warm_start_transfer``) the same data fingerprint. What it takes and what it skips is
printed with the reason, and the parent run records the sources. Trial values are read from the
JSON each trial run records (``finesweep.config``), typed; older runs fall back to their text
params, read with the current space's types.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from finesweep.config.space import contains
from finesweep.errors import SweepError
from finesweep.objective import Objective
from finesweep.tracking.listing import sweep_trials
from finesweep.tracking.schema import TAG_DATASET_FINGERPRINT, TAG_SEARCHED, TAG_STATUS, TAG_SWEEP, TAG_TASK, TAG_TRIAL
from finesweep.tracking.trials import recorded_objective, trial_config
from finesweep.tuning.search.study_search import PriorTrial


@dataclass(frozen=True)
class WarmStartRequest:
    """What this sweep is, for matching earlier trials against it."""

    task: str
    objective: Objective
    space: dict[str, Any]
    fingerprint: str
    transfer: bool = False


@dataclass
class WarmStart:
    """The prior trials taken, and for each source what was skipped and why."""

    trials: list[PriorTrial] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)  # (sweep, reason) -> trials
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """What the sweep prints: the trials taken per source, then each reason for skipping."""
        taken = Counter(trial.source.split("/")[0] for trial in self.trials)
        lines = [f"warm start: {count} trial(s) from {sweep!r}" for sweep, count in sorted(taken.items())]
        lines += [f"warm start: skipped {count} trial(s) of {sweep!r}: {reason}" for (sweep, reason), count in sorted(self.skipped.items())]
        return lines + self.notes


def warm_start(tracking_uri: str, sources: list[str], request: WarmStartRequest) -> WarmStart:
    """The completed trials of ``sources`` that fit ``request`` (SweepError for an unknown sweep)."""
    from finesweep.tracking.leaderboard import sweep_parent
    from finesweep.tracking.store import client

    mlflow_client, found = client(tracking_uri), WarmStart()
    for sweep in sources:
        try:
            parent = sweep_parent(mlflow_client, sweep)
        except Exception as exc:  # noqa: BLE001 - TrackingError: named as a warm-start source
            raise SweepError(f"search.warm_start: {exc}") from None
        reason = _sweep_mismatch(parent, request)
        runs = sweep_trials(mlflow_client, parent.info.experiment_id, sweep)
        if reason is not None:
            found.skipped[(sweep, reason)] += len(runs)
            continue
        if parent.data.tags.get(TAG_DATASET_FINGERPRINT) != request.fingerprint:
            found.notes.append(f"warm start: {sweep!r} ran on other data; its trials are taken because "
                               "search.warm_start_transfer is true")  # fmt: skip
        for run in runs:
            _take(run, sweep, request, found, statuses=("completed",))
    return found


def _sweep_mismatch(parent: Any, request: WarmStartRequest) -> str | None:
    """Why no trial of this sweep can inform the current one, or None."""
    tags = parent.data.tags
    if tags.get(TAG_TASK) != request.task:
        return f"its task is {tags.get(TAG_TASK)}, not {request.task}"
    recorded = recorded_objective(tags, parent.info.run_id)
    if recorded.metrics != request.objective.metrics:
        return f"it optimised {', '.join(recorded.metrics)}, not {', '.join(request.objective.metrics)}"
    if not request.transfer and tags.get(TAG_DATASET_FINGERPRINT) != request.fingerprint:
        return ("it ran on other data (dataset fingerprint "
                f"{tags.get(TAG_DATASET_FINGERPRINT)}, this sweep's is {request.fingerprint}); "
                "set search.warm_start_transfer: true to take them anyway")  # fmt: skip
    return None


def _take(run: Any, sweep: str, request: WarmStartRequest, found: WarmStart, statuses: tuple[str, ...]) -> None:
    status = run.data.tags.get(TAG_STATUS)
    if status not in statuses:
        found.skipped[(sweep, f"{status}, not {' or '.join(statuses)}")] += 1
        return
    config = trial_config(run, request.space)
    outside = [name for name, spec in request.space.items() if name not in config or not contains(spec, config[name])]
    if outside:
        found.skipped[(sweep, f"{', '.join(outside)} outside the current space")] += 1
        return
    if request.objective.values(run.data.metrics) is None:
        found.skipped[(sweep, "an objective metric is missing")] += 1
        return
    params = {name: config[name] for name in request.space}
    found.trials.append(PriorTrial(f"{sweep}/{run.data.tags.get(TAG_TRIAL)}", params, dict(run.data.metrics)))


def sweep_history(tracking_uri: str, parent: Any, request: WarmStartRequest) -> WarmStart:
    """Every finished trial of the sweep itself (completed and ASHA-stopped, as its searcher saw
    them), for ``--more``: the searcher continues from all of them."""
    from finesweep.tracking.store import client

    found = WarmStart()
    sweep = parent.data.tags.get(TAG_SWEEP, "")
    for run in sweep_trials(client(tracking_uri), parent.info.experiment_id, sweep):
        _take(run, sweep, request, found, statuses=("completed", "pruned"))
    return found


# -- what a sweep is, for ``--more`` ----------------------------------------------------------------

SPACE_ARTIFACT = "resolved/search_space.yaml"


@dataclass(frozen=True)
class SweepIdentity:
    """What makes a sweep the sweep it is: ``--more`` may add trials, never change one of these.

    ``space`` is the search space as the parent run records it (plain YAML values per parameter).
    The data's fingerprint is the fourth, compared by :func:`data_change` once the data is read.
    """

    task: str
    objective: Objective
    space: dict[str, Any]


def space_record(space: dict[str, Any]) -> dict[str, Any]:
    """A resolved space (name -> spec) as plain values, exactly as ``resolved/search_space.yaml``
    reads back: the YAML round trip makes a recorded space and a job's comparable."""
    import yaml

    from finesweep.config.loader import parse_yaml_text

    dumped = yaml.safe_dump({name: spec.model_dump() for name, spec in space.items()}, sort_keys=False)
    return parse_yaml_text(dumped) or {}


def recorded_space(mlflow_client: Any, parent_run_id: str) -> dict[str, Any] | None:
    """The search space the sweep's parent run recorded, or None when it has none to read."""
    import tempfile
    from pathlib import Path

    from mlflow.exceptions import MlflowException

    from finesweep.config.loader import parse_yaml_text

    with tempfile.TemporaryDirectory(prefix="finesweep-space-") as tmp:  # removed with its download
        try:
            local = mlflow_client.download_artifacts(parent_run_id, SPACE_ARTIFACT, tmp)
            parsed = parse_yaml_text(Path(local).read_text(encoding="utf-8"))
        except (MlflowException, OSError, ValueError):
            return None
    parameters = parsed.get("parameters") if isinstance(parsed, dict) else None
    return parameters if isinstance(parameters, dict) else None


def identity_changes(tags: dict[str, str], space: dict[str, Any] | None, current: SweepIdentity) -> list[str]:
    """What ``current`` changes against the sweep its parent run's ``tags`` and recorded ``space``
    describe, one phrase each (empty: the same sweep). A sweep recorded without its space artifact
    is compared by the searched names its ``finesweep.searched`` tag lists."""
    changes = []
    if tags.get(TAG_TASK) != current.task:
        changes.append(f"task {current.task} (the sweep's is {tags.get(TAG_TASK)})")
    recorded = recorded_objective(tags)
    if (recorded.goals, [c.text for c in recorded.constraints]) != (current.objective.goals, [c.text for c in current.objective.constraints]):
        changes.append(f"objective {current.objective.describe()} (the sweep's is {recorded.describe()})")
    return changes + _space_changes(tags, space, current.space)


def data_change(tags: dict[str, str], fingerprint: str) -> list[str]:
    """The data change, as :func:`identity_changes` words one, when ``fingerprint`` is not the sweep's."""
    recorded = tags.get(TAG_DATASET_FINGERPRINT)
    return [] if recorded == fingerprint else [f"other data (dataset fingerprint {fingerprint}, the sweep's is {recorded})"]


def _space_changes(tags: dict[str, str], recorded: dict[str, Any] | None, current: dict[str, Any]) -> list[str]:
    if recorded is None:  # no artifact to read: the searched names are all there is to compare
        names = [n for n in tags.get(TAG_SEARCHED, "").split(",") if n]
        recorded = {name: current.get(name) for name in names}
    added = [name for name in current if name not in recorded]
    removed = [name for name in recorded if name not in current]
    changed = [name for name in current if name in recorded and recorded[name] != current[name]]
    parts = [f"{', '.join(names)} {what}" for names, what in ((changed, "changed"), (added, "added"), (removed, "removed")) if names]
    return [f"search space: {'; '.join(parts)}"] if parts else []


def refuse_changes(sweep: str, changes: list[str]) -> None:
    """SweepError naming every change, in one line, when ``--more`` would change what the sweep is."""
    if changes:
        raise SweepError(
            f"--more: this job would change sweep {sweep!r}: {'; '.join(changes)}; --more adds trials to the same "
            "sweep only: run it with the sweep's own job file, or start a new sweep (another --name, or "
            "search.warm_start to reuse its trials)"
        )
