"""The one way finesweep writes an MLflow run: :class:`RunWriter`. Params are batched (MLflow takes
at most 100 per call) and cut to MLflow's length limit, metrics are named through
:mod:`finesweep.tracking.metric_names`, and every param, tag and text passes through
:func:`finesweep.redact.redact` first. The sweep's parent run, its trial runs and ``finesweep
train``'s run are all written through it."""

from __future__ import annotations

import json
import time
from typing import Any

from finesweep.redact import redact
from finesweep.tracking.metric_names import mlflow_name
from finesweep.tracking.store import client

PARAM_BATCH = 100  # MLflow's log_batch takes at most 100 params per call
PARAM_CHARS = 6000  # MLflow's limit for a param value (characters)


def param_text(value: Any) -> str:
    """A param value as MLflow keeps it: lists as JSON, secrets masked, cut to MLflow's limit."""
    text = json.dumps(value) if isinstance(value, (list, tuple)) else str(value)
    return redact(text)[:PARAM_CHARS]


def run_tag(key: str, value: Any) -> Any:
    """A RunTag whose value carries no secret (see :mod:`finesweep.redact`)."""
    from mlflow.entities import RunTag

    return RunTag(key, redact(str(value)))


class RunWriter:
    """Writes runs of one tracking store. Constructing it does no I/O: the MLflow client is made
    on the first write."""

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The store's MlflowClient (made once, on first use)."""
        if self._client is None:
            self._client = client(self.tracking_uri)
        return self._client

    def create_run(self, experiment_id: str, name: str, tags: dict[str, Any]) -> str:
        """A new run named ``name`` with ``tags`` (masked); its id."""
        run = self.client.create_run(experiment_id, run_name=name, tags={k: redact(str(v)) for k, v in tags.items()})
        return run.info.run_id

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        """Every param, sorted by name, in batches MLflow takes."""
        from mlflow.entities import Param

        items = [Param(key, param_text(value)) for key, value in sorted(params.items())]
        for start in range(0, len(items), PARAM_BATCH):
            self.client.log_batch(run_id, params=items[start : start + PARAM_BATCH])

    def log(self, run_id: str, metrics: dict[str, float] | None = None, tags: dict[str, Any] | None = None,
            step: int = 0) -> None:  # fmt: skip
        """Metrics (reported keys, named through :func:`mlflow_name`) at ``step`` and tags, in one call."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(
            run_id,
            metrics=[Metric(mlflow_name(key), float(value), now, step) for key, value in (metrics or {}).items()],
            tags=[run_tag(key, value) for key, value in (tags or {}).items()],
        )

    def log_named_metrics(self, run_id: str, metrics: dict[str, float], step: int = 0) -> None:
        """Metrics under exactly the names given (figures that are not a trial's reported keys)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(run_id, metrics=[Metric(key, float(value), now, step) for key, value in metrics.items()])

    def log_text(self, run_id: str, text: str, name: str) -> None:
        """A text artifact, secrets masked."""
        self.client.log_text(run_id, redact(text), name)

    def end(self, run_id: str, status: str) -> None:
        """End the run with MLflow status ``status`` (FINISHED, FAILED, KILLED)."""
        self.client.set_terminated(run_id, status)
