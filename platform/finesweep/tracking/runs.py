"""Parent and child MLflow runs of a sweep, written from the sweep driver only.

All writes go through one :class:`SweepTracker` in the driver process (SQLite never sees two
writers). Child runs are found by their tags, not kept in memory only, so a trial that reports
again (or a resumed sweep) writes into its one existing run instead of creating a second.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from pathlib import Path
from typing import Any

from finesweep.objective.layout import MetricTable
from finesweep.redact import redact
from finesweep.tracking.schema import (BOOKKEEPING_TAGS, TAG_CHECKPOINT_PATH, TAG_CONFIG, TAG_ERROR,
                                       TAG_INTERRUPTED_RUNS, TAG_MODEL_URI, TAG_NODE, TAG_NODES, TAG_PARENT, TAG_ROLE,
                                       TAG_SOURCE_GIT_COMMIT, TAG_SOURCE_NAME, TAG_SOURCE_TYPE, TAG_STATUS,
                                       TAG_STORAGE_PATH, TAG_SWEEP, TAG_TRIAL, TAG_USER)  # fmt: skip
from finesweep.tracking.models import log_trial_config
from finesweep.tracking.store import client, ensure_experiment

# Tune's own bookkeeping in every result; not metrics of the model.
_TUNE_KEYS = {
    "time_this_iter_s", "time_total_s", "timestamp", "training_iteration", "pid", "iterations_since_restore",
    "time_since_restore", "done", "date", "hostname", "node_ip", "trial_id", "experiment_tag", "config",
    "checkpoint_dir_name", "should_checkpoint", "checkpoint_path",
}  # fmt: skip

# What a trial reports about itself rather than about its model: whether this was its last report,
# whether early stopping ended it, how often it restarted from a checkpoint, and how many trials its
# process had run. Recorded as tags (``finesweep.<key>``, schema.BOOKKEEPING_TAGS), so MLflow's
# charts show only measurements.
BOOKKEEPING = tuple(BOOKKEEPING_TAGS)


# What a trial measures about its run rather than its model (timings, memory, the schedule's rate):
# logged under MLflow's ``system/`` prefix, which the UI keeps in its own chart section, so that the
# model's metrics lead the chart view.
SYSTEM_PREFIX = "system/"
_SYSTEM = {"epoch", "lr", "eval_time_s", "test_eval_time_s", "time_to_first_step_s", "train_time_s", "peak_memory_mb",
           "resident_memory_mb", "sweep_wall_time_s", "max_concurrent_trials",
           # the parent's counts of its trials: bookkeeping, not figures to chart against the objective
           "n_trials", "n_completed", "n_pruned", "n_failed", "n_infeasible", "pareto_front_size"}  # fmt: skip


def mlflow_name(key: str) -> str:
    """The MLflow metric name of a reported key: ``system/<key>`` for a run measurement."""
    is_system = key in _SYSTEM or key.startswith(("startup_", "mean_", "median_"))
    return SYSTEM_PREFIX + key if is_system and not key.startswith(SYSTEM_PREFIX) else key


def recorded_metric(metrics: dict[str, float], key: str) -> float | None:
    """A metric read back by its reported key: under its MLflow name (``system/<key>``), else as
    runs recorded before that logged it."""
    return metrics.get(mlflow_name(key), metrics.get(key))


def bookkeeping_tags(result: dict[str, Any]) -> dict[str, str]:
    """The bookkeeping values of a result as ``finesweep.<key>`` tags (integers as text)."""
    return {BOOKKEEPING_TAGS[key]: str(int(result[key])) for key in BOOKKEEPING if isinstance(result.get(key), (int, float))}


def bookkeeping_from_tags(tags: dict[str, str]) -> dict[str, float]:
    """The bookkeeping values read back from a run's tags, as a result would carry them."""
    out: dict[str, float] = {}
    for key in BOOKKEEPING:
        try:
            out[key] = float(tags[BOOKKEEPING_TAGS[key]])
        except (KeyError, ValueError):
            continue
    return out


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys (``search.algorithm``), lists kept as JSON text."""
    if not isinstance(data, dict):
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        out.update(flatten(value, dotted) if isinstance(value, dict) else {dotted: value})
    return out


def _param_text(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (list, tuple)) else str(value)
    return redact(text)[:6000]  # MLflow's limit for a param value


def _tag(key: str, value: Any) -> Any:
    """A RunTag whose value carries no secret (see :mod:`finesweep.redact`)."""
    from mlflow.entities import RunTag

    return RunTag(key, redact(str(value)))


def model_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The numeric metrics a worker reported, without Tune's bookkeeping."""
    return {
        key: float(value)
        for key, value in result.items()
        if key not in _TUNE_KEYS
        and key not in BOOKKEEPING
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    }


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*")


def error_headline(text: str) -> str:
    """The exception a trial died of, in one line: the last ``SomeError: ...`` line of its
    traceback joined with the message lines after it (Ray wraps the cause on the next line)."""
    lines = [line.rstrip() for line in _ANSI.sub("", text).splitlines() if line.strip()]
    starts = [i for i, line in enumerate(lines) if _EXCEPTION_LINE.match(line)]
    if not starts:
        return lines[-1].strip() if lines else "unknown error"
    tail = [lines[starts[-1]]] + [line.strip() for line in lines[starts[-1] + 1 :] if not line.startswith(" ")]
    return " ".join(tail)[:1000]


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


class SweepTracker:
    """Creates the parent run, one child run per trial, and logs params, metrics and artifacts."""

    def __init__(self, tracking_uri: str, experiment: str, sweep: str):
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.sweep = sweep
        self.client = client(tracking_uri)
        # looked up, not created: a sweep refused before its parent run starts leaves no experiment
        existing = self.client.get_experiment_by_name(experiment)
        self.experiment_id: str | None = existing.experiment_id if existing is not None else None
        self.parent_id: str | None = None
        self._children: dict[str, str] = {}
        self._last_result: dict[str, dict[str, Any]] = {}
        self._errors: dict[str, str] = {}
        self._nodes: dict[str, list[str]] = {}  # the Ray nodes each trial reported from, in order
        self._numbers: TrialNumbers | None = None  # counted once from MLflow's existing runs
        self._storage_path: str | None = None  # the parent run's finesweep.storage_path, read once
        # set by the sweep before trials start: MLflow's source/git/user tags and the dataset
        # inputs (training, validation, test) every trial run carries as well as the parent
        self.run_tags: dict[str, str] = {}
        self.dataset_inputs: list[Any] = []
        # the task's per-item metrics (one F1 per label) kept in a table artifact, not charted
        self.metric_table: MetricTable | None = None
        self._tables: dict[str, dict[int, dict[str, float]]] = {}  # trial id -> epoch -> key -> value

    def __reduce__(self):
        # Tune pickles its callbacks into the experiment state; a restored sweep reconnects by
        # name instead of carrying a client (and stale run ids) across processes.
        return (_reconnect, (self.tracking_uri, self.experiment, self.sweep))

    def reopen_parent(self) -> str:
        """Mark an existing parent run running again (``--resume``) and return its id."""

        self.parent_id = self.find_parent()
        self.client.update_run(self.parent_id, status="RUNNING")
        self.client.log_batch(self.parent_id, tags=[_tag(TAG_STATUS, "running")])
        return self.parent_id

    def close_orphans(self, trial_runs: list[Any]) -> list[Any]:
        """Retire the child runs among ``trial_runs`` still marked running once Tune has finished
        every trial; return them.

        A driver killed after a trial started (its child run created) but before Tune saved its
        experiment state leaves a run that ``--resume`` cannot know: Tune restores the trials it
        saved, and the restored searcher proposes that configuration again as a new trial. The
        stale run is soft-deleted (``mlflow runs restore`` brings it back), so the sweep keeps one
        run per trial and none stays RUNNING, and the parent run names it in the tag
        ``finesweep.interrupted_runs``.
        """
        stale = [run for run in trial_runs if run.data.tags.get(TAG_STATUS) == "running"]
        for run in stale:
            reason = "interrupted with the sweep driver before Tune saved this trial; rerun as a new trial on --resume"
            self.client.log_batch(run.info.run_id, tags=[_tag(TAG_STATUS, "interrupted"), _tag(TAG_ERROR, reason)])
            self.client.set_terminated(run.info.run_id, "KILLED")
            self.client.delete_run(run.info.run_id)
        if stale and self.parent_id:
            ids = ",".join(run.info.run_id for run in stale)
            self.client.log_batch(self.parent_id, tags=[_tag(TAG_INTERRUPTED_RUNS, ids)])
        return stale

    def remember_error(self, trial_id: str, error: str) -> None:
        """Keep a failed trial's error in memory (reported even if MLflow cannot take it)."""
        self._errors[trial_id] = error

    @property
    def remembered_errors(self) -> dict[str, str]:
        """Failed trials' errors as this driver saw them (for runs whose error tag is missing)."""
        return dict(self._errors)

    def _trial_runs(self) -> list[Any]:
        if self.experiment_id is None:
            return []
        from finesweep.tracking.listing import sweep_trials

        return sweep_trials(self.client, self.experiment_id, self.sweep)

    def completed_runs(self) -> list[Any]:
        """The sweep's completed trial runs, read from MLflow."""
        return [run for run in self._trial_runs() if run.data.tags.get(TAG_STATUS) == "completed"]

    # -- parent ---------------------------------------------------------------------------------

    def find_parent(self) -> str | None:
        """The run id of this sweep's parent run, if one exists."""
        if self.experiment_id is None:
            return None
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{TAG_SWEEP}` = '{self.sweep}' and tags.`{TAG_ROLE}` = 'sweep'",
            max_results=1,
        )
        return runs[0].info.run_id if runs else None

    def start_parent(self, tags: dict[str, str], params: dict[str, Any]) -> str:
        """Create the sweep's parent run with its tags and flattened job params."""
        from mlflow.entities import Param

        if self.experiment_id is None:
            self.experiment_id = ensure_experiment(self.tracking_uri, self.experiment)
        run = self.client.create_run(
            self.experiment_id,
            run_name=self.sweep,
            tags={TAG_SWEEP: self.sweep, TAG_ROLE: "sweep",
                  **{k: redact(str(v)) for k, v in {**self.run_tags, **tags}.items()}},
        )  # fmt: skip
        self.parent_id = run.info.run_id
        self._log_inputs(self.parent_id)
        items = [Param(key, _param_text(value)) for key, value in params.items()]
        for start in range(0, len(items), 100):  # log_batch takes at most 100 params
            self.client.log_batch(self.parent_id, params=items[start : start + 100])
        self.client.log_batch(self.parent_id, tags=[_tag(TAG_STATUS, "running")])
        return self.parent_id

    def log_parent_file(self, path: Path, artifact_path: str | None = None) -> None:
        """Attach a text file (job file, search space) to the parent run, secrets masked."""
        name = f"{artifact_path}/{path.name}" if artifact_path else path.name
        self.log_parent_text(path.read_text(encoding="utf-8"), name)

    def log_parent_text(self, text: str, name: str) -> None:
        """Attach generated text (resolved config, data summary) to the parent run, secrets masked."""
        self.client.log_text(self.parent_id, redact(text), name)

    def log_parent_figures(self, figures: dict[str, float]) -> None:
        """Figures of the sweep as a whole: baselines (``baseline_*``, the untuned base model's, BM25's)
        as tags, which keeps them out of MLflow's chart view (see :mod:`finesweep.tracking.baselines`),
        and the rest (``system/`` timings) as metrics."""
        from mlflow.entities import Metric

        from finesweep.tracking.baselines import baseline_tag_value, is_baseline

        now = int(time.time() * 1000)
        tags = [_tag(k, baseline_tag_value(v)) for k, v in figures.items() if is_baseline(k)]
        metrics = [Metric(k, float(v), now, 0) for k, v in figures.items() if not is_baseline(k)]
        self.client.log_batch(self.parent_id, metrics=metrics, tags=tags)

    def set_parent_tags(self, tags: dict[str, str]) -> None:
        """Tags on the parent run (secrets masked)."""
        self.client.log_batch(self.parent_id, tags=[_tag(k, v) for k, v in tags.items()])

    def set_trial_tags(self, run_id: str, tags: dict[str, str]) -> None:
        """Tags on one trial run (its place on the Pareto front, its feasibility)."""
        self.client.log_batch(run_id, tags=[_tag(k, v) for k, v in tags.items()])

    def mark_interrupted(self) -> list[str]:
        """Tag the trial runs still running ``interrupted`` and end them KILLED (Ctrl-C: Tune saved
        these trials, so ``--resume`` continues each in its own run); return their trial ids."""
        running = [run for run in self._trial_runs() if run.data.tags.get(TAG_STATUS) == "running"]
        for run in running:
            self.client.log_batch(run.info.run_id, tags=[_tag(TAG_STATUS, "interrupted")])
            self.client.set_terminated(run.info.run_id, "KILLED")
        return [run.data.tags.get(TAG_TRIAL, run.info.run_id) for run in running]

    def finish_parent(self, metrics: dict[str, float], tags: dict[str, str], failed: bool = False,
                      interrupted: bool = False) -> None:  # fmt: skip
        """Write the sweep's summary and close the parent run (KILLED when ``interrupted``)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(
            self.parent_id,
            metrics=[Metric(mlflow_name(k), float(v), now, 0) for k, v in metrics.items() if v is not None],
            tags=[_tag(k, str(v)) for k, v in tags.items()],
        )
        self.client.set_terminated(self.parent_id, "KILLED" if interrupted else "FAILED" if failed else "FINISHED")

    # -- children -------------------------------------------------------------------------------

    def _find_child(self, trial_id: str) -> str | None:
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=(
                f"tags.`{TAG_SWEEP}` = '{self.sweep}' and tags.`{TAG_ROLE}` = 'trial' and tags.`{TAG_TRIAL}` = '{trial_id}'"
            ),
            max_results=1,
        )
        return runs[0].info.run_id if runs else None

    def is_recorded(self, trial_id: str) -> bool:
        """True when the trial's run exists with a final status (completed, pruned or failed) and
        has ended."""
        run_id = self._find_child(trial_id)
        if run_id is None:
            return False
        run = self.client.get_run(run_id)
        return run.data.tags.get(TAG_STATUS) in ("completed", "pruned", "failed") and run.info.status != "RUNNING"

    def child_run(self, trial_id: str, params: dict[str, Any], config: dict[str, Any] | None = None) -> str:
        """The trial's child run: found by tags, else created with all resolved hyperparameters and
        its sampled ``config`` as JSON (``finesweep.config``: read back typed by warm starts,
        ``--more`` and ``reproduce``)."""
        if trial_id in self._children:
            return self._children[trial_id]
        run_id = self._find_child(trial_id)
        if run_id is None:
            run = self.client.create_run(
                self.experiment_id,
                # short and distinct in the runs table: "trial 3 · 05b06ea0" (start order, Tune's id)
                run_name=trial_label(self.trial_numbers().assign(trial_id), trial_id),
                tags={
                    **{key: redact(value) for key, value in self.run_tags.items()},
                    TAG_PARENT: self.parent_id,
                    TAG_SWEEP: self.sweep,
                    TAG_ROLE: "trial",
                    TAG_TRIAL: trial_id,
                    TAG_STATUS: "running",
                    **({TAG_CONFIG: redact(json.dumps(config, sort_keys=True, default=str))} if config is not None else {}),
                },
            )
            run_id = run.info.run_id
            self._log_params(run_id, params)
            self._log_inputs(run_id)
            log_trial_config(self.client, run_id, {**params, **(config or {})})
        elif not self.client.get_run(run_id).data.params:  # created, then the server went away
            self._log_params(run_id, params)
        self._children[trial_id] = run_id
        return run_id

    def trial_numbers(self) -> "TrialNumbers":
        """The sweep's trial numbers, continuing those its existing child runs carry (``--resume``)."""
        if self._numbers is None:
            named = (_RUN_NAME.match(run.info.run_name or "") for run in self._trial_runs())
            self._numbers = TrialNumbers({m.group(2): int(m.group(1)) for m in named if m})
        return self._numbers

    def _log_inputs(self, run_id: str) -> None:
        """The sweep's training/validation/test data as MLflow dataset inputs (the Dataset column)."""
        if self.dataset_inputs:
            self.client.log_inputs(run_id, datasets=self.dataset_inputs)

    def remember_result(self, trial_id: str, result: dict[str, Any]) -> None:
        """Keep a trial's latest result in memory (its status is decided from it, MLflow or not)."""
        self._last_result[trial_id] = result

    def remember_checkpoint(self, trial_id: str, path: str) -> None:
        """Attach the trial's latest persisted checkpoint to its latest result (in-trial runtime)."""
        self._last_result.setdefault(trial_id, {})["checkpoint_path"] = path

    def _log_params(self, run_id: str, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(key, _param_text(value)) for key, value in sorted(params.items())]
        for start in range(0, len(items), 100):  # log_batch takes at most 100 params
            self.client.log_batch(run_id, params=items[start : start + 100])

    def log_epoch(self, trial_id: str, result: dict[str, Any]) -> None:
        """One epoch's metrics, with step = epoch."""
        from mlflow.entities import Metric

        run_id = self._children[trial_id]
        step = int(result.get("epoch", result.get("training_iteration", 0)))
        now = int(time.time() * 1000)
        measured = model_metrics(result)
        if self.metric_table is not None:
            table = self._tables.setdefault(trial_id, {}).setdefault(step, {})
            table.update({key: value for key, value in measured.items() if self.metric_table.in_family(key)})
            measured = {key: value for key, value in measured.items() if key not in self.metric_table.tabled}
        metrics = [Metric(mlflow_name(key), value, now, step) for key, value in measured.items()]
        tags = {**bookkeeping_tags(result), **self._node_tags(trial_id, result)}
        self.client.log_batch(run_id, metrics=metrics, tags=[_tag(key, value) for key, value in tags.items()])

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

    def last_result(self, trial_id: str) -> dict[str, Any]:
        """The last result of a trial: from Tune in this session, else from MLflow and the trial's
        latest checkpoint (a resumed sweep whose trial finished just before the driver died)."""
        if trial_id in self._last_result:
            return self._last_result[trial_id]
        run_id = self._children.get(trial_id) or self._find_child(trial_id)
        if run_id is None:
            return {}
        run = self.client.get_run(run_id)
        result: dict[str, Any] = {**run.data.metrics, **bookkeeping_from_tags(run.data.tags)}
        checkpoint = self._latest_checkpoint(trial_id)
        if checkpoint is not None:
            result["checkpoint_path"] = str(checkpoint)
        return result

    def _storage(self) -> str | None:
        """The sweep's results location (its parent run's ``finesweep.storage_path`` tag), read once."""
        if self._storage_path is None and self.parent_id:
            self._storage_path = self.client.get_run(self.parent_id).data.tags.get(TAG_STORAGE_PATH) or None
        return self._storage_path

    def _latest_checkpoint(self, trial_id: str) -> Path | str | None:
        from finesweep.storage import latest_checkpoint

        storage = self._storage()
        return latest_checkpoint(storage, trial_id) if storage else None

    def finish_child(self, trial_id: str, status: str, error: str | None = None,
                     result: dict[str, Any] | None = None) -> None:  # fmt: skip
        """Tag the trial completed/pruned/failed, attach its final artifacts, close the run.

        ``result`` is the trial's last result as Tune's thread saw it (read there, so that this
        writer thread never reads what that thread writes). The status tag and the run's end are
        written last, after the artifacts and the model: a run whose artifacts could not be
        written is never marked finished.
        """
        run_id = self._children.get(trial_id)
        if run_id is None:
            return
        tags = [_tag(TAG_STATUS, status)]
        checkpoint = (result if result is not None else self.last_result(trial_id)).get("checkpoint_path")
        run = self.client.get_run(run_id)
        logged = TAG_MODEL_URI in run.data.tags  # a resumed trial that reported again
        if status == "completed" and checkpoint and not logged:
            tags.extend(self._log_final_checkpoint(run, str(checkpoint)))
        self._log_table(trial_id, run_id)
        if error:
            tags.append(_tag(TAG_ERROR, error_headline(error)))
            self.client.log_text(run_id, redact(error), "error.txt")
        self.client.log_batch(run_id, tags=tags)
        self.client.set_terminated(run_id, "FAILED" if status == "failed" else "FINISHED")

    def _log_table(self, trial_id: str, run_id: str) -> None:
        """The trial's per-item metrics of every epoch (``per_label_f1.json``): every label's F1,
        charted or not, with the label table (id, name, metric key)."""
        epochs = self._tables.pop(trial_id, None)
        if self.metric_table is None or not epochs:
            return
        table = {"labels": self.metric_table.items_json(), "epochs": {str(step): epochs[step] for step in sorted(epochs)}}
        self.client.log_text(run_id, json.dumps(table, indent=1, ensure_ascii=False), self.metric_table.artifact)

    def _log_final_checkpoint(self, run: Any, checkpoint: str) -> list[Any]:
        """Log a completed trial's final checkpoint (reports, plots, config, model); return the tags
        saying so.

        On an object store Ray reports the checkpoint's path without its scheme; it is downloaded
        into a temporary folder first. A checkpoint whose copy was cut short is not logged.
        """
        from finesweep.storage import as_uri, is_object_store, local_copy
        from finesweep.tracking.models import log_trial_artifacts, log_trial_model, served_folder
        from finesweep.training.checkpoint import is_complete

        location = checkpoint  # a local folder (absolute) or a URI read back from MLflow (--resume)
        if not (Path(checkpoint).is_absolute() or is_object_store(checkpoint)):
            location = as_uri(self._storage() or "", checkpoint)  # "bucket/prefix/...": the store's
        run_id = run.info.run_id
        with local_copy(location) as folder:
            if not is_complete(folder):
                return []
            log_trial_artifacts(self.client, run_id, folder)
            tags = [_tag(TAG_CHECKPOINT_PATH, location)]
            served = served_folder(folder)
            if served is not None:
                # named after the trial, as its run is: the UI's Models list tells them apart
                name = (run.info.run_name or run_id).replace(" · ", "-").replace(" ", "-")
                tags.append(_tag(TAG_MODEL_URI, log_trial_model(self.client, run_id, served, name)))
        return tags


def _reconnect(tracking_uri: str, experiment: str, sweep: str) -> SweepTracker:
    """The tracker Tune restores on ``--resume``: its parent run found by name, and the source tags
    and dataset inputs every trial run carries read back from it, so that trials created after a
    resume are recorded like those before it."""
    tracker = SweepTracker(tracking_uri, experiment, sweep)
    tracker.parent_id = tracker.find_parent()
    if tracker.parent_id is not None:
        parent = tracker.client.get_run(tracker.parent_id)
        tracker.run_tags = {key: value for key, value in parent.data.tags.items() if key in SHARED_TAGS}
        tracker.dataset_inputs = _inputs_of(parent)
    return tracker


# MLflow's source tags a sweep's parent and trial runs share (the UI's Source and User columns)
SHARED_TAGS = (TAG_SOURCE_NAME, TAG_SOURCE_TYPE, TAG_SOURCE_GIT_COMMIT, TAG_USER)


def _inputs_of(run: Any) -> list[Any]:
    """A run's dataset inputs as ``DatasetInput`` entities to log on another run."""
    from mlflow.entities import DatasetInput, InputTag

    inputs = getattr(run, "inputs", None)
    return [DatasetInput(item.dataset, [InputTag(tag.key, tag.value) for tag in item.tags])
            for item in (inputs.dataset_inputs if inputs is not None else [])]  # fmt: skip
