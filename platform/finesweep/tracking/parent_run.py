"""A sweep's parent run (``finesweep.role`` ``sweep``): started, or found and reopened on
``--resume``; annotated with the job's files, baselines and figures; finished with the summary.
Written from the sweep driver only, through one :class:`~finesweep.tracking.writer.RunWriter`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from finesweep.tracking.baselines import baseline_tag_value, is_baseline
from finesweep.tracking.listing import find_parent_id
from finesweep.tracking.schema import TAG_ROLE, TAG_STATUS, TAG_STORAGE_PATH, TAG_SWEEP
from finesweep.tracking.store import ensure_experiment
from finesweep.tracking.writer import RunWriter


class ParentRun:
    """The parent run of sweep ``sweep`` in experiment ``experiment``. Constructing it does no I/O.

    ``run_tags`` (MLflow's source, git and user tags) and ``dataset_inputs`` (training, validation,
    test) are set by the sweep before trials start: the parent and every trial run carry them.
    """

    def __init__(self, writer: RunWriter, experiment: str, sweep: str) -> None:
        self.writer = writer
        self.experiment = experiment
        self.sweep = sweep
        self.run_id: str | None = None
        self.run_tags: dict[str, str] = {}
        self.dataset_inputs: list[Any] = []
        self._experiment_id: str | None = None
        self._storage_path: str | None = None  # the run's finesweep.storage_path, read once

    @property
    def experiment_id(self) -> str | None:
        """The experiment's id: looked up (never created) until the parent run starts, so that a
        sweep refused before it starts leaves no experiment behind."""
        if self._experiment_id is None:
            existing = self.writer.client.get_experiment_by_name(self.experiment)
            self._experiment_id = existing.experiment_id if existing is not None else None
        return self._experiment_id

    def find(self) -> str | None:
        """The run id of this sweep's parent run, if one exists."""
        return find_parent_id(self.writer.client, self.experiment_id, self.sweep)

    def start(self, tags: dict[str, str], params: dict[str, Any]) -> str:
        """Create the parent run with its tags and identifying params; its id."""
        if self.experiment_id is None:
            self._experiment_id = ensure_experiment(self.writer.tracking_uri, self.experiment)
        self.run_id = self.writer.create_run(
            self._experiment_id or "", self.sweep, {TAG_SWEEP: self.sweep, TAG_ROLE: "sweep", **self.run_tags, **tags}
        )
        self.log_inputs(self.run_id)
        self.writer.log_params(self.run_id, params)
        self.writer.log(self.run_id, tags={TAG_STATUS: "running"})
        return self.run_id

    def reopen(self) -> str:
        """Mark the existing parent run running again (``--resume``); its id."""
        self.run_id = self.find()
        self.writer.client.update_run(self.run_id, status="RUNNING")
        self.writer.log(self.run_id, tags={TAG_STATUS: "running"})
        return self.run_id

    def log_inputs(self, run_id: str) -> None:
        """The sweep's training/validation/test data as MLflow dataset inputs (the Dataset column)
        of ``run_id``: the parent or one of its trials."""
        if self.dataset_inputs:
            self.writer.client.log_inputs(run_id, datasets=self.dataset_inputs)

    def log_file(self, path: Path, artifact_path: str | None = None) -> None:
        """Attach a text file (job file, search space), secrets masked."""
        name = f"{artifact_path}/{path.name}" if artifact_path else path.name
        self.log_text(path.read_text(encoding="utf-8"), name)

    def log_text(self, text: str, name: str) -> None:
        """Attach generated text (resolved config, data summary, label table), secrets masked."""
        self.writer.log_text(self.run_id, text, name)

    def log_figures(self, figures: dict[str, float]) -> None:
        """Figures of the sweep as a whole: baselines (``baseline_*``, the untuned base model's,
        BM25's) as tags, which keeps them out of MLflow's chart view (see
        :mod:`finesweep.tracking.baselines`), and the rest (``system/`` timings) as metrics."""
        tags = {key: baseline_tag_value(value) for key, value in figures.items() if is_baseline(key)}
        self.writer.log(self.run_id, tags=tags)
        self.writer.log_named_metrics(self.run_id, {k: v for k, v in figures.items() if not is_baseline(k)})

    def set_tags(self, tags: dict[str, str]) -> None:
        """Tags on the parent run (secrets masked)."""
        self.writer.log(self.run_id, tags=tags)

    def finish(self, metrics: dict[str, float | None], tags: dict[str, str], failed: bool = False,
               interrupted: bool = False) -> None:  # fmt: skip
        """Write the sweep's summary and close the run (KILLED when ``interrupted``)."""
        self.writer.log(self.run_id, metrics={k: v for k, v in metrics.items() if v is not None}, tags=tags)
        self.writer.end(self.run_id, "KILLED" if interrupted else "FAILED" if failed else "FINISHED")

    def storage_path(self) -> str | None:
        """The sweep's results location (the run's ``finesweep.storage_path`` tag), read once."""
        if self._storage_path is None and self.run_id:
            self._storage_path = self.writer.client.get_run(self.run_id).data.tags.get(TAG_STORAGE_PATH) or None
        return self._storage_path
