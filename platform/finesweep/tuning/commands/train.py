"""One trial of a job in this process, without Ray: ``finesweep train``.

It trains the job's own configuration (its ``train`` values, with ``--set`` applied) through the
same loop and the same :class:`~finesweep.training.spec.TrialSpec` a sweep's trials use, so a
breakpoint in a task's loss stops here as in a plain script. Each epoch is printed, and recorded
as one MLflow run unless tracking is off; the final model folder is copied to ``output``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finesweep.config.loader import LoadedJob
from finesweep.settings import Settings, in_use, using
from finesweep.tuning._output import say
from finesweep.tuning.commands.output_folder import check_output, place_model


@dataclass
class TrainResult:
    """What one in-process trial reported: every epoch's metrics, the model folder, the MLflow run."""

    epochs: list[dict[str, Any]] = field(default_factory=list)
    model_dir: Path | None = None
    run_id: str | None = None

    @property
    def final(self) -> dict[str, Any]:
        """The last report's metrics (its test figures included)."""
        return self.epochs[-1] if self.epochs else {}


def train_one(loaded: LoadedJob, output: Path, tracking: bool = True, overwrite: bool = False,
              settings: Settings | None = None) -> TrainResult:  # fmt: skip
    """Train the job's configuration once, here, under ``settings`` (default: those in use,
    :func:`finesweep.settings.in_use`); the model folder ends in ``output``.

    ``output`` is checked first, before the data is read: an existing folder is replaced only when
    it is a model folder ``finesweep train`` wrote and ``overwrite`` is set (tuning/commands/output_folder.py).
    """
    from finesweep.tasks import get_task
    from finesweep.training.context import LocalContext
    from finesweep.training.loop import run_trial_loop
    from finesweep.tuning._inputs import data_and_model

    settings = settings or in_use()
    check_output(output, overwrite)
    task = get_task(loaded.job.task)
    with using(settings):  # the catalog's data directory and the cache, read beneath the task's hooks
        data, base = data_and_model(loaded, task, settings)
    result = TrainResult()
    recorder = _TrackedRecorder(loaded, result, output, overwrite, settings) if tracking else _Recorder(loaded, result, output, overwrite)
    say(f"training one {loaded.job.task} trial in this process: {loaded.objective.describe()}")
    started = time.time()  # the trial's clock for time-to-first-step, as a sweep's trial actor starts it
    try:
        run_trial_loop(_spec(loaded, data, base, settings), {}, task, LocalContext(recorder.report), started)
    except BaseException:
        recorder.close(failed=True)
        raise
    recorder.close(failed=False)
    return result


def _spec(loaded: LoadedJob, data: Any, base: Any, settings: Settings) -> Any:
    from finesweep.training.spec import TrialSpec

    job = loaded.job
    return TrialSpec(
        task=job.task, data_ref=data, data_key=data.fingerprint + "-train", objective=loaded.objective,
        base_model=base, lora_target_modules=job.model.lora_target_modules, trust_remote_code=job.model.trust_remote_code,
        fixed_params=loaded.params.model_dump(), runtime="in_trial", cpus_per_worker=job.scaling.cpus_per_worker,
        gpus_per_worker=job.scaling.gpus_per_worker, settings=settings,
    )  # fmt: skip


class _Recorder:
    """Prints each epoch and keeps the final model folder."""

    def __init__(self, loaded: LoadedJob, result: TrainResult, output: Path, overwrite: bool) -> None:
        self.loaded, self.result, self.output, self.overwrite = loaded, result, output, overwrite

    def report(self, metrics: dict[str, Any], checkpoint: Path | None) -> None:
        from finesweep.training import FINAL_KEY
        from finesweep.tuning.execution.progress import compact

        self.result.epochs.append(dict(metrics))
        figures = ", ".join(f"{m} {compact(metrics.get(m))}" for m in self.loaded.objective.metrics)
        say(f"epoch {metrics.get('epoch')}/{self.loaded.params.epochs}: {figures} (train_loss {compact(metrics.get('train_loss'))})")
        self.record(metrics)
        if metrics.get(FINAL_KEY) == 1.0 and checkpoint is not None:
            self._keep_model(checkpoint)

    def _keep_model(self, checkpoint: Path) -> None:
        served = next((card.parent for card in sorted(checkpoint.glob("*/finesweep_model.json"))), None)
        if served is None:
            return
        place_model(served, self.output, self.overwrite)
        self.result.model_dir = self.output
        say(f"model folder: {self.output}")

    def record(self, metrics: dict[str, Any]) -> None:
        """Nothing to record without tracking."""

    def close(self, failed: bool) -> None:
        """Nothing to close without tracking."""


class _TrackedRecorder(_Recorder):
    """Also records the trial as one MLflow run (``finesweep.role``: ``train``)."""

    def __init__(self, loaded: LoadedJob, result: TrainResult, output: Path, overwrite: bool, settings: Settings) -> None:
        from finesweep.tracking.schema import TAG_OBJECTIVE, TAG_ROLE, TAG_TASK
        from finesweep.tracking.store import ensure_experiment, resolve_tracking_uri
        from finesweep.tracking.writer import RunWriter
        from finesweep.tuning._record import source_tags

        super().__init__(loaded, result, output, overwrite)
        uri = resolve_tracking_uri(loaded.job.tracking.uri, settings)
        self.writer = RunWriter(uri)
        experiment = ensure_experiment(uri, loaded.job.tracking.experiment)
        tags = {**source_tags(loaded, None), TAG_ROLE: "train", TAG_TASK: loaded.job.task,
                TAG_OBJECTIVE: loaded.objective.to_json()}  # fmt: skip
        self.result.run_id = self.writer.create_run(experiment, f"train · {loaded.name}", tags)
        self.writer.log_params(self.result.run_id, loaded.params.model_dump())
        say(f"MLflow: {uri} (run {self.result.run_id})")

    def record(self, metrics: dict[str, Any]) -> None:
        from finesweep.tracking.metric_names import model_metrics

        self.writer.log(self.result.run_id, metrics=model_metrics(metrics), step=int(metrics.get("epoch", 0)))

    def close(self, failed: bool) -> None:
        from finesweep.tracking.schema import TAG_MODEL_DIR

        if self.result.model_dir is not None:
            self.writer.log(self.result.run_id, tags={TAG_MODEL_DIR: str(self.result.model_dir.resolve())})
        self.writer.end(self.result.run_id, "FAILED" if failed else "FINISHED")
