"""A sweep's trial runs, children of its parent run: one per trial, found by its tags (so a trial
that reports again, or a resumed sweep, writes into its one existing run), logged epoch by epoch
and closed with the trial's status, artifacts and model. Written from the sweep driver only."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

from finesweep.objective.layout import MetricTable
from finesweep.tracking.headline import error_headline
from finesweep.tracking.listing import find_trial_run_id, sweep_trials
from finesweep.tracking.metric_names import bookkeeping_from_tags, bookkeeping_tags, model_metrics
from finesweep.tracking.models import log_trial_config
from finesweep.tracking.parent_run import ParentRun
from finesweep.tracking.schema import (TAG_CHECKPOINT_PATH, TAG_CONFIG, TAG_ERROR, TAG_INTERRUPTED_RUNS, TAG_MODEL_URI,
                                       TAG_NODE, TAG_NODES, TAG_PARENT, TAG_ROLE, TAG_STATUS, TAG_SWEEP, TAG_TRIAL)  # fmt: skip
from finesweep.tracking.writer import RunWriter
from finesweep.tracking.failure import error_text, failure_tags

FINAL_STATUSES = ("completed", "pruned", "failed")
_RUN_NAME = re.compile(r"^trial (\d+) · (\S+)$")


def trial_label(number: int, trial_id: str) -> str:
    """A trial's short name, the same in MLflow's runs table and on the console: ``trial 3 · 05b06ea0``."""
    return f"trial {number} · {trial_id}"


class TrialNumbers:
    """1, 2, 3, ... in the order trials start, one number per trial id, continuing after a resume.

    Assigned on Tune's thread when a trial starts, so the console and MLflow (written later, on the
    writer thread) name each trial alike.
    """

    def __init__(self, existing: dict[str, int] | None = None):
        self._numbers = dict(existing or {})
        self._lock = threading.Lock()

    def assign(self, trial_id: str) -> int:
        """The trial's number, given now if it has none yet."""
        with self._lock:
            if trial_id not in self._numbers:
                self._numbers[trial_id] = max(self._numbers.values(), default=0) + 1
            return self._numbers[trial_id]

    def label(self, trial_id: str) -> str:
        """``trial N · <id>`` for the console."""
        return trial_label(self.assign(trial_id), trial_id)


class TrialRuns:
    """The trial runs under ``parent``. Constructing it does no I/O.

    ``metric_table`` (set by the sweep before trials start) names the task's per-item metrics (one
    F1 per label) that go to a table artifact rather than one chart each.
    """

    def __init__(self, writer: RunWriter, parent: ParentRun) -> None:
        self.writer = writer
        self.parent = parent
        self.metric_table: MetricTable | None = None
        self._children: dict[str, str] = {}  # trial id -> run id
        self._last_result: dict[str, dict[str, Any]] = {}
        self._errors: dict[str, str] = {}
        self._nodes: dict[str, list[str]] = {}  # the Ray nodes each trial reported from, in order
        self._numbers: TrialNumbers | None = None  # counted once from MLflow's existing runs
        self._tables: dict[str, dict[int, dict[str, float]]] = {}  # trial id -> epoch -> key -> value

    # -- reads ------------------------------------------------------------------------------------

    def recorded(self) -> list[Any]:
        """The sweep's trial runs as MLflow holds them now."""
        experiment_id = self.parent.experiment_id
        return sweep_trials(self.writer.client, experiment_id, self.parent.sweep) if experiment_id else []

    def completed_runs(self) -> list[Any]:
        """The sweep's completed trial runs, read from MLflow."""
        return [run for run in self.recorded() if run.data.tags.get(TAG_STATUS) == "completed"]

    def _find(self, trial_id: str) -> str | None:
        return find_trial_run_id(self.writer.client, self.parent.experiment_id, self.parent.sweep, trial_id)

    def is_recorded(self, trial_id: str) -> bool:
        """True when the trial's run exists with a final status (completed, pruned or failed) and
        has ended."""
        run_id = self._find(trial_id)
        if run_id is None:
            return False
        run = self.writer.client.get_run(run_id)
        return run.data.tags.get(TAG_STATUS) in FINAL_STATUSES and run.info.status != "RUNNING"

    def numbers(self) -> TrialNumbers:
        """The sweep's trial numbers, continuing those its existing trial runs carry (``--resume``)."""
        if self._numbers is None:
            named = (_RUN_NAME.match(run.info.run_name or "") for run in self.recorded())
            self._numbers = TrialNumbers({m.group(2): int(m.group(1)) for m in named if m})
        return self._numbers

    # -- what the driver keeps in memory ---------------------------------------------------------

    def remember_result(self, trial_id: str, result: dict[str, Any]) -> None:
        """Keep a trial's latest result in memory (its status is decided from it, MLflow or not)."""
        self._last_result[trial_id] = result

    def remember_checkpoint(self, trial_id: str, path: str) -> None:
        """Attach the trial's latest persisted checkpoint to its latest result (in-trial runtime)."""
        self._last_result.setdefault(trial_id, {})["checkpoint_path"] = path

    def remember_error(self, trial_id: str, error: str) -> None:
        """Keep a failed trial's error in memory (reported even if MLflow cannot take it)."""
        self._errors[trial_id] = error

    @property
    def remembered_errors(self) -> dict[str, str]:
        """Failed trials' errors as this driver saw them (for runs whose error tag is missing)."""
        return dict(self._errors)

    def last_result(self, trial_id: str) -> dict[str, Any]:
        """The last result of a trial: from Tune in this session, else from MLflow and the trial's
        latest checkpoint (a resumed sweep whose trial finished just before the driver died)."""
        if trial_id in self._last_result:
            return self._last_result[trial_id]
        run_id = self._children.get(trial_id) or self._find(trial_id)
        if run_id is None:
            return {}
        run = self.writer.client.get_run(run_id)
        result: dict[str, Any] = {**run.data.metrics, **bookkeeping_from_tags(run.data.tags)}
        checkpoint = self._latest_checkpoint(trial_id)
        if checkpoint is not None:
            result["checkpoint_path"] = str(checkpoint)
        return result

    def _latest_checkpoint(self, trial_id: str) -> Path | str | None:
        from finesweep.storage import latest_checkpoint

        storage = self.parent.storage_path()
        return latest_checkpoint(storage, trial_id) if storage else None

    # -- writes -----------------------------------------------------------------------------------

    def child_run(self, trial_id: str, params: dict[str, Any], config: dict[str, Any] | None = None) -> str:
        """The trial's run: found by tags, else created with all resolved hyperparameters, its
        sampled ``config`` as JSON (``finesweep.config``: read back typed by warm starts,
        ``--more`` and ``reproduce``) and ``trial_config.json``."""
        if trial_id in self._children:
            return self._children[trial_id]
        run_id = self._find(trial_id)
        if run_id is None:
            tags = {
                **self.parent.run_tags,
                TAG_PARENT: self.parent.run_id,
                TAG_SWEEP: self.parent.sweep,
                TAG_ROLE: "trial",
                TAG_TRIAL: trial_id,
                TAG_STATUS: "running",
                **({TAG_CONFIG: json.dumps(config, sort_keys=True, default=str)} if config is not None else {}),
            }
            # short and distinct in the runs table: "trial 3 · 05b06ea0" (start order, Tune's id)
            run_id = self.writer.create_run(self.parent.experiment_id or "", self.numbers().label(trial_id), tags)
            self.writer.log_params(run_id, params)
            self.parent.log_inputs(run_id)
            log_trial_config(self.writer.client, run_id, {**params, **(config or {})})
        elif not self.writer.client.get_run(run_id).data.params:  # created, then the server went away
            self.writer.log_params(run_id, params)
        self._children[trial_id] = run_id
        return run_id

    def log_epoch(self, trial_id: str, result: dict[str, Any]) -> None:
        """One epoch's metrics, with step = epoch; the bookkeeping and the node as tags."""
        step = int(result.get("epoch", result.get("training_iteration", 0)))
        measured = model_metrics(result)
        if self.metric_table is not None:
            table = self._tables.setdefault(trial_id, {}).setdefault(step, {})
            table.update({key: value for key, value in measured.items() if self.metric_table.in_family(key)})
            measured = {key: value for key, value in measured.items() if key not in self.metric_table.tabled}
        tags = {**bookkeeping_tags(result), **self._node_tags(trial_id, result)}
        self.writer.log(self._children[trial_id], metrics=measured, tags=tags, step=step)

    def _node_tags(self, trial_id: str, result: dict[str, Any]) -> dict[str, str]:
        """Where the trial reported this result from: ``finesweep.node`` (the Ray node IP of its Tune
        trial actor, which trains on the in-trial runtime; Train's workers may run elsewhere) and
        ``finesweep.nodes`` (every node it reported from in this driver, in order: two after a node
        loss moved it)."""
        node = result.get("node_ip")
        if not isinstance(node, str) or not node:
            return {}
        visited = self._nodes.setdefault(trial_id, [])
        if node not in visited:
            visited.append(node)
        return {TAG_NODE: node, TAG_NODES: ",".join(visited)}

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        """Tags on one trial run (its place on the Pareto front, its feasibility)."""
        self.writer.log(run_id, tags=tags)

    def finish(self, trial_id: str, status: str, error: str | None = None, result: dict[str, Any] | None = None) -> None:
        """Tag the trial completed/pruned/failed, attach its final artifacts, close the run.

        ``result`` is the trial's last result as Tune's thread saw it (read there, so that this
        writer thread never reads what that thread writes). The status tag and the run's end are
        written last, after the artifacts and the model: a run whose artifacts could not be
        written is never marked finished.
        """
        run_id = self._children.get(trial_id)
        if run_id is None:
            return
        tags = {TAG_STATUS: status}
        last = result if result is not None else self.last_result(trial_id)
        checkpoint = last.get("checkpoint_path")
        run = self.writer.client.get_run(run_id)
        logged = TAG_MODEL_URI in run.data.tags  # a resumed trial that reported again
        if status == "completed" and checkpoint and not logged:
            tags.update(self._log_final_checkpoint(run, str(checkpoint)))
        self._log_table(trial_id, run_id)
        if error:  # tagged with its reason (out of memory: also phase and cause), error.txt leads with it
            tags[TAG_ERROR] = error_headline(error)
            tags.update(failure_tags(error, last))
            self.writer.log_text(run_id, error_text(error, last), "error.txt")
        self.writer.log(run_id, tags=tags)
        self.writer.end(run_id, "FAILED" if status == "failed" else "FINISHED")

    def _log_table(self, trial_id: str, run_id: str) -> None:
        """The trial's per-item metrics of every epoch (``per_label_f1.json``): every label's F1,
        charted or not, with the label table (id, name, metric key)."""
        epochs = self._tables.pop(trial_id, None)
        if self.metric_table is None or not epochs:
            return
        table = {"labels": self.metric_table.items_json(), "epochs": {str(step): epochs[step] for step in sorted(epochs)}}
        self.writer.log_text(run_id, json.dumps(table, indent=1, ensure_ascii=False), self.metric_table.artifact)

    def _log_final_checkpoint(self, run: Any, checkpoint: str) -> dict[str, str]:
        """Log a completed trial's final checkpoint (reports, plots, model); return the tags
        saying so.

        On an object store Ray reports the checkpoint's path without its scheme; it is downloaded
        into a temporary folder first. A checkpoint whose copy was cut short is not logged.
        """
        from finesweep.storage import as_uri, is_object_store, local_copy
        from finesweep.tracking.models import log_trial_artifacts, log_trial_model, served_folder
        from finesweep.training.checkpoint import is_complete

        location = checkpoint  # a local folder (absolute) or a URI read back from MLflow (--resume)
        if not (Path(checkpoint).is_absolute() or is_object_store(checkpoint)):
            location = as_uri(self.parent.storage_path() or "", checkpoint)  # "bucket/prefix/...": the store's
        run_id = run.info.run_id
        with local_copy(location) as folder:
            if not is_complete(folder):
                return {}
            log_trial_artifacts(self.writer.client, run_id, folder)
            tags = {TAG_CHECKPOINT_PATH: location}
            served = served_folder(folder)
            if served is not None:
                # named after the trial, as its run is: the UI's Models list tells them apart
                name = (run.info.run_name or run_id).replace(" · ", "-").replace(" ", "-")
                tags[TAG_MODEL_URI] = log_trial_model(self.writer.client, run_id, served, name)
        return tags

    def mark_interrupted(self) -> list[str]:
        """Tag the trial runs still running ``interrupted`` and end them KILLED (Ctrl-C: Tune saved
        these trials, so ``--resume`` continues each in its own run); return their trial ids."""
        running = [run for run in self.recorded() if run.data.tags.get(TAG_STATUS) == "running"]
        for run in running:
            self.writer.log(run.info.run_id, tags={TAG_STATUS: "interrupted"})
            self.writer.end(run.info.run_id, "KILLED")
        return [run.data.tags.get(TAG_TRIAL, run.info.run_id) for run in running]

    def close_orphans(self, trial_runs: list[Any]) -> list[Any]:
        """Retire the trial runs among ``trial_runs`` still marked running once Tune has finished
        every trial; return them.

        A driver killed after a trial started (its run created) but before Tune saved its
        experiment state leaves a run that ``--resume`` cannot know: Tune restores the trials it
        saved, and the restored searcher proposes that configuration again as a new trial. The
        stale run is soft-deleted (``mlflow runs restore`` brings it back), so the sweep keeps one
        run per trial and none stays RUNNING, and the parent run names it in the tag
        ``finesweep.interrupted_runs``.
        """
        stale = [run for run in trial_runs if run.data.tags.get(TAG_STATUS) == "running"]
        reason = "interrupted with the sweep driver before Tune saved this trial; rerun as a new trial on --resume"
        for run in stale:
            self.writer.log(run.info.run_id, tags={TAG_STATUS: "interrupted", TAG_ERROR: reason})
            self.writer.end(run.info.run_id, "KILLED")
            self.writer.client.delete_run(run.info.run_id)
        if stale and self.parent.run_id:
            self.parent.set_tags({TAG_INTERRUPTED_RUNS: ",".join(run.info.run_id for run in stale)})
        return stale
