"""A sweep's record in MLflow, written from the sweep driver only: its parent run
(:class:`~finesweep.tracking.parent_run.ParentRun`) and its trial runs
(:class:`~finesweep.tracking.trial_runs.TrialRuns`), both through one
:class:`~finesweep.tracking.writer.RunWriter`, so that SQLite never sees two writers in one sweep.

:class:`SweepTracker` holds the three, and is what Tune pickles with its callbacks: a restored
sweep reconnects by name instead of carrying a client (and stale run ids) across processes.
"""

from __future__ import annotations

from typing import Any

from finesweep.tracking.parent_run import ParentRun
from finesweep.tracking.schema import TAG_SOURCE_GIT_COMMIT, TAG_SOURCE_NAME, TAG_SOURCE_TYPE, TAG_USER
from finesweep.tracking.trial_runs import TrialRuns
from finesweep.tracking.writer import RunWriter

# MLflow's source tags a sweep's parent and trial runs share (the UI's Source and User columns)
SHARED_TAGS = (TAG_SOURCE_NAME, TAG_SOURCE_TYPE, TAG_SOURCE_GIT_COMMIT, TAG_USER)


class SweepTracker:
    """The record of sweep ``sweep`` in experiment ``experiment`` of ``tracking_uri``: ``parent``
    and ``trials``, sharing ``writer``. Constructing it does no I/O."""

    def __init__(self, tracking_uri: str, experiment: str, sweep: str) -> None:
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.sweep = sweep
        self.writer = RunWriter(tracking_uri)
        self.parent = ParentRun(self.writer, experiment, sweep)
        self.trials = TrialRuns(self.writer, self.parent)

    def __reduce__(self):
        return (_reconnect, (self.tracking_uri, self.experiment, self.sweep))

    @property
    def client(self) -> Any:
        """The store's MlflowClient, for reads beside the record (a snapshot, the plots)."""
        return self.writer.client


def _reconnect(tracking_uri: str, experiment: str, sweep: str) -> SweepTracker:
    """The tracker Tune restores on ``--resume``: its parent run found by name, and the source tags
    and dataset inputs every trial run carries read back from it, so that trials created after a
    resume are recorded like those before it."""
    tracker = SweepTracker(tracking_uri, experiment, sweep)
    parent = tracker.parent
    parent.run_id = parent.find()
    if parent.run_id is not None:
        run = tracker.client.get_run(parent.run_id)
        parent.run_tags = {key: value for key, value in run.data.tags.items() if key in SHARED_TAGS}
        parent.dataset_inputs = _inputs_of(run)
    return tracker


def _inputs_of(run: Any) -> list[Any]:
    """A run's dataset inputs as ``DatasetInput`` entities to log on another run."""
    from mlflow.entities import DatasetInput, InputTag

    inputs = getattr(run, "inputs", None)
    return [DatasetInput(item.dataset, [InputTag(tag.key, tag.value) for tag in item.tags])
            for item in (inputs.dataset_inputs if inputs is not None else [])]  # fmt: skip
