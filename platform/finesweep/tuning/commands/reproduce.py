"""Re-run one trial of a finished sweep exactly, from what its MLflow runs recorded.

The trial's sampled values, the sweep's resolved job and its recorded data (verified by sha256,
through the dataset fingerprint) make a one-trial sweep: a grid of one point, in its own parent run
tagged as a reproduction. The figures are compared at the original's last epoch, so a trial that
ASHA stopped early is compared where it stopped.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from finesweep.errors import ConfigError, DataError, FinesweepError, TrackingError
from finesweep.redact import printable
from finesweep.tracking.metric_names import recorded_metric
from finesweep.tracking.schema import (TAG_CONFIG, TAG_PRECISION, TAG_DATASET_FINGERPRINT, TAG_PARENT, TAG_REPRODUCES_RUN,
                                       TAG_REPRODUCES_SWEEP, TAG_REPRODUCES_TRIAL, TAG_ROLE, TAG_SEARCHED,
                                       TAG_SOURCE_NAME, TAG_SOURCE_TYPE, TAG_STORAGE_PATH, TAG_SWEEP, TAG_TRIAL)  # fmt: skip

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")  # MLflow's run ids


@dataclass(frozen=True)
class Reproduction:
    """What a reproduced sweep must match, and how its parent run is tagged."""

    original_run_id: str
    original_sweep: str
    trial_id: str
    dataset_fingerprint: str
    source_tags: dict[str, str]  # the original's MLflow source name and type (its job file)

    def tags(self) -> dict[str, str]:
        """Tags of the reproduction's parent run, pointing back at the original trial."""
        return {
            TAG_REPRODUCES_RUN: self.original_run_id,
            TAG_REPRODUCES_SWEEP: self.original_sweep,
            TAG_REPRODUCES_TRIAL: self.trial_id,
        }

    def check_data(self, fingerprint: str, source: str) -> None:
        """Refuse data that differs from what the original trial trained on."""
        if fingerprint != self.dataset_fingerprint:
            raise DataError(
                f"{source}: the data differs from what trial {self.trial_id} of {self.original_sweep!r} trained on "
                f"(dataset fingerprint {fingerprint}, the sweep recorded {self.dataset_fingerprint})"
            )


@dataclass(frozen=True)
class Comparison:
    """The original and reproduced figures of one trial at the original's last epoch."""

    metric: str
    epoch: int
    rows: list[tuple[str, float | None, float | None]]  # (metric, original, reproduced)
    sweep: str
    run_id: str

    def difference(self) -> float | None:
        """|reproduced - original| of the sweep's metric, None if either is missing."""
        for name, original, reproduced in self.rows:
            if name == self.metric and original is not None and reproduced is not None:
                return abs(reproduced - original)
        return None


def original_trial(tracking_uri: str, run_id: str) -> tuple[Any, Any]:
    """The trial's child run and its sweep's parent run (TrackingError when it is not one)."""
    from mlflow.exceptions import MlflowException

    from finesweep.tracking.store import client

    if _RUN_ID.match(run_id.lower()):
        run_id = run_id.lower()  # MLflow's ids are lower-case hex; a copy from an upper-cased listing is the same run
    else:
        raise FinesweepError(f"--run {run_id!r}: an MLflow run id is 32 hexadecimal digits")
    mlflow_client = client(tracking_uri)
    try:
        run = mlflow_client.get_run(run_id)
    except MlflowException:
        raise TrackingError(f"--run {run_id}: no such run in {tracking_uri}") from None
    if run.data.tags.get(TAG_ROLE) != "trial" or TAG_PARENT not in run.data.tags:
        raise TrackingError(f"--run {run_id}: not a trial run of a finesweep sweep (`finesweep leaderboard` lists them)")
    if run.info.lifecycle_stage == "deleted":  # soft-deleted: e.g. a run --resume retired
        raise TrackingError(f"--run {run_id}: this run is deleted in MLflow; restore it first "
                            f"(`mlflow runs restore --run-id {run_id}`) if you mean to reproduce it")  # fmt: skip
    return run, mlflow_client.get_run(run.data.tags[TAG_PARENT])


def reproduction_job(tracking_uri: str, run: Any, parent: Any, sweep: str) -> dict[str, Any]:
    """The sweep's resolved job turned into a one-trial sweep of the trial's own values."""
    from finesweep.tracking.record import resolved_job

    job = resolved_job(tracking_uri, parent.info.run_id)
    job.pop("overrides", None)  # a record of the original command line, not a job key
    searched = [name for name in parent.data.tags.get(TAG_SEARCHED, "").split(",") if name]
    values = _trial_values(run, searched)
    precision = run.data.tags.get(TAG_PRECISION)
    if precision in ("no", "fp16", "bf16"):  # the precision the trial used, not "auto" again on another device
        values["mixed_precision"] = precision
    # one grid point; no warm start or budget: the trial's own values, run to the original's end
    job["search"] = {**job["search"], "algorithm": "grid", "num_samples": 1, "space": None, "options": {},
                     "warm_start": [], "budget": None,
                     "overrides": {name: {"distribution": "choice", "values": [value]} for name, value in values.items()}}  # fmt: skip
    # no early stopping: ASHA's decision depended on the other trials. A trial it stopped after k
    # epochs runs on to its planned epochs, and the figures are compared at epoch k.
    job["scheduler"] = {"type": "none"}
    job["tracking"] = {**job.get("tracking", {}), "uri": tracking_uri}
    results = parent.data.tags[TAG_STORAGE_PATH]  # <storage_path>/<sweep>: a folder or an s3:// URI
    job["storage_path"] = results.rsplit("/", 1)[0] if "://" in results else str(Path(results).parent)
    job["name"] = sweep
    job["model"] = {**job["model"], "base": _absolute_base(job["model"]["base"], parent)}
    return job


def _trial_values(run: Any, searched: list[str]) -> dict[str, Any]:
    """The trial's sampled values, typed: from the JSON its run recorded, else (runs recorded before
    that) its text params read as YAML."""
    from finesweep.config.loader import parse_yaml_text
    from finesweep.tracking.trials import trial_config

    if run.data.tags.get(TAG_CONFIG):
        config = trial_config(run, {})
        return {name: config[name] for name in searched if name in config}
    values = {}
    for name in (n for n in searched if n in run.data.params):
        text = run.data.params[name]
        try:
            values[name] = parse_yaml_text(text)
        except yaml.YAMLError as error:  # e.g. a `!!python/...` tag: the safe loader builds nothing
            reason = str(error).splitlines()[0]
            raise TrackingError(f"run {run.info.run_id}: param {name} = {printable(text[:80])}{'...' if len(text) > 80 else ''} is not a plain value "
                                f"({reason}); the run was changed after finesweep recorded it") from None  # fmt: skip
    return values


def _recorded_values_problem(error: ConfigError, path: Path, run_id: str) -> TrackingError:
    """A reproduction job's problems told against the run's record, not the temporary file it was
    written to: ``search.overrides.X.values[0]`` is the run's param ``X``."""
    lines = []
    for problem in error.problems:
        problem = problem.replace(f"{path}: ", "")
        problem = re.sub(r"search\.overrides\.([\w.]+)\.values\[0\]", r"param \1", problem)
        lines.append(problem)
    return TrackingError(f"run {run_id}: its recorded values do not make a valid job: {'; '.join(lines)}")


def _absolute_base(base: str, parent: Any) -> str:
    """A base model given as a relative folder, made absolute against the original job's folder."""
    if not base.startswith("."):
        return base
    source = parent.data.tags.get(TAG_SOURCE_NAME)
    folder = Path(source).parent if source else Path.cwd()
    return str((folder / base).resolve())


def reproduce(tracking_uri: str, run_id: str, verbose: int = 1, show_tracebacks: bool = False) -> Comparison:
    """Re-run trial ``run_id`` as a one-trial sweep and compare its figures with the original's."""
    from finesweep.config import load_job
    from finesweep.tracking.record import recorded_data
    from finesweep.tracking.trials import recorded_objective
    from finesweep.tuning.sweep import SweepOptions, run_sweep

    run, parent = original_trial(tracking_uri, run_id)
    original_sweep, trial_id = run.data.tags[TAG_SWEEP], run.data.tags[TAG_TRIAL]
    sweep = f"{original_sweep}-repro-{trial_id}-{datetime.now(timezone.utc).strftime('%H%M%S')}"
    # the original's job file as the source; the git commit stays the one that runs now
    source = {k: v for k, v in parent.data.tags.items() if k in (TAG_SOURCE_NAME, TAG_SOURCE_TYPE)}
    origin = Reproduction(run_id, original_sweep, trial_id, parent.data.tags.get(TAG_DATASET_FINGERPRINT, ""),
                          source)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="finesweep-reproduce-") as tmp:
        path = Path(tmp) / f"{sweep}.yaml"
        path.write_text(yaml.safe_dump(reproduction_job(tracking_uri, run, parent, sweep), sort_keys=False), encoding="utf-8")
        try:
            loaded = load_job(path)
        except ConfigError as error:
            raise _recorded_values_problem(error, path, run_id) from None
        # the data is read where the sweep found it, and only if its files still have their sha256
        with recorded_data(tracking_uri, parent.info.run_id):
            options = SweepOptions(verbose=verbose, show_tracebacks=show_tracebacks, reproduces=origin)
            summary = run_sweep(loaded, name=sweep, options=options)
    return compare(tracking_uri, run, summary.name, recorded_objective(parent.data.tags).primary.metric)


def compare(tracking_uri: str, original: Any, sweep: str, metric: str) -> Comparison:
    """The original trial's figures beside the reproduction's, at the original's last epoch."""
    from finesweep.tracking.store import client

    mlflow_client = client(tracking_uri)
    [copy] = mlflow_client.search_runs(
        [original.info.experiment_id], filter_string=f"tags.`{TAG_SWEEP}` = '{sweep}' and tags.`{TAG_ROLE}` = 'trial'"
    )
    epoch = int(recorded_metric(original.data.metrics, "epoch") or 0)
    # the model's figures, not timings (test_eval_time_s differs from run to run by nature)
    names = [metric] + sorted(k for k in original.data.metrics if k.startswith(("val_", "test_", "train_loss"))
                              and k != metric and not k.endswith("_time_s"))  # fmt: skip
    rows = [(name, original.data.metrics.get(name), _at_epoch(mlflow_client, copy, name, epoch)) for name in names]
    return Comparison(metric, epoch, rows, sweep, copy.info.run_id)


def _at_epoch(mlflow_client: Any, run: Any, name: str, epoch: int) -> float | None:
    """The value ``run`` logged for ``name`` at step ``epoch`` (its latest one if none at that step)."""
    history = [m for m in mlflow_client.get_metric_history(run.info.run_id, name) if m.step == epoch]
    if history:
        return history[-1].value
    return run.data.metrics.get(name)
