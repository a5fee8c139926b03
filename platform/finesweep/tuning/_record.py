"""The sweep's parent run: what it records when the sweep starts (tags, identifying params, the
job files, the baselines, the warm-start sources), and the tags every trial run shares."""

from __future__ import annotations

import json
from typing import Any

import yaml

from finesweep.config.loader import LoadedJob
from finesweep.tracking.schema import (TAG_BASE_MODEL, TAG_DATASET_FINGERPRINT, TAG_EXTENSIONS, TAG_JOB, TAG_METRIC,
                                       TAG_MODE, TAG_OBJECTIVE, TAG_SEARCHED, TAG_SOURCE_GIT_COMMIT, TAG_SOURCE_NAME,
                                       TAG_SOURCE_TYPE, TAG_STORAGE_PATH, TAG_TASK, TAG_TRIAL_RUNTIME, TAG_USER,
                                       TAG_WARM_START, TAG_WARM_START_TRIALS, extension_tag)  # fmt: skip
from finesweep.tuning._output import say
from finesweep.tuning._state import SweepState

DATA_SOURCE_ARTIFACT = "resolved/data_source.json"
LABELS_ARTIFACT = "labels.json"


def open_parent(state: SweepState) -> None:
    """Start the parent run, or reopen it on ``--resume`` (and ``--more``, which records its trials
    under the same parent)."""
    tracker = state.tracker
    tracker.parent.run_tags = source_tags(state.loaded, state.commit)
    if state.options.reproduces is not None:  # a reproduction comes from the original's job file
        tracker.parent.run_tags.update(state.options.reproduces.source_tags)
    tracker.parent.dataset_inputs = _dataset_inputs(state)
    named = {*state.objective.metrics, *(c.metric for c in state.objective.constraints)}
    tracker.trials.metric_table = state.task.metric_table(state.data, named)
    if state.options.resume:
        tracker.parent.reopen()
        _note_extension(state)
        if not state.options.more:
            say(f"resuming sweep {state.name!r}: finished trials are kept, unfinished ones continue from their checkpoints")
        return
    tracker.parent.start(_parent_tags(state), _parent_params(state.loaded))
    _log_parent_files(state)
    if tracker.trials.metric_table is not None:  # the label table: id, name and metric key of each label
        tracker.parent.log_text(json.dumps(tracker.trials.metric_table.items_json(), indent=1, ensure_ascii=False), LABELS_ARTIFACT)
    if state.baseline:
        tracker.parent.log_figures(state.baseline)


def _parent_tags(state: SweepState) -> dict[str, str]:
    from finesweep.tracking.provenance import provenance_tags

    job, data = state.loaded.job, state.data
    tags = {
        TAG_OBJECTIVE: state.objective.to_json(),
        # the primary goal, as its own tags: what MLflow's UI and older readers sort by
        TAG_METRIC: state.objective.primary.metric,
        TAG_MODE: state.objective.primary.mode,
        TAG_TASK: job.task,
        TAG_JOB: state.loaded.name,
        TAG_SEARCHED: ",".join(state.loaded.space),
        TAG_DATASET_FINGERPRINT: data.fingerprint,
        TAG_BASE_MODEL: state.base.reference,
        TAG_STORAGE_PATH: str(state.results),
        TAG_TRIAL_RUNTIME: job.scaling.runtime,
        **provenance_tags(),  # finesweep's version and commit, the libraries', CUDA's, the device
    }
    if state.prior is not None and state.prior.trials:
        tags[TAG_WARM_START] = ",".join(state.warm_sources)
        tags[TAG_WARM_START_TRIALS] = str(len(state.prior.trials))
    if state.options.reproduces is not None:
        tags.update(state.options.reproduces.tags())
    return tags


def _note_extension(state: SweepState) -> None:
    """Record on the parent that ``--more`` added trials, and which extension this is."""
    if not state.options.more:
        return
    state.tracker.parent.set_tags({TAG_EXTENSIONS: str(state.extension),
                                   extension_tag(state.extension): f"{state.options.more} more trials"})  # fmt: skip


def _parent_params(loaded: LoadedJob) -> dict[str, Any]:
    """A few identifying params: the job file itself is an artifact (``job/``, ``resolved/job.yaml``)."""
    job = loaded.job
    return {
        "task": job.task,
        "dataset": job.dataset.name or job.dataset.path,
        "base_model": job.model.base,
        "algorithm": job.search.algorithm,
        "num_samples": job.search.num_samples,
        "objective": loaded.objective.describe(),
        "searched": ",".join(loaded.space) or "(none)",
        "tracking.uri": job.tracking.uri or "",
    }


def _log_parent_files(state: SweepState) -> None:
    loaded, tracker, data = state.loaded, state.tracker, state.data
    tracker.parent.log_file(loaded.path, "job")
    if loaded.space_path is not None:
        tracker.parent.log_file(loaded.space_path, "job")
    space = {name: spec.model_dump() for name, spec in loaded.space.items()}
    tracker.parent.log_text(yaml.safe_dump({"parameters": space}, sort_keys=False), "resolved/search_space.yaml")
    resolved = {**loaded.job.model_dump(), "train": loaded.params.model_dump(), "overrides": list(loaded.overrides)}
    for key in ("path", "validation_path", "test_path"):  # absolute, so promotion can re-read the data
        if resolved["dataset"].get(key):
            resolved["dataset"][key] = str(loaded.resolve_path(resolved["dataset"][key]))
    tracker.parent.log_text(yaml.safe_dump(resolved, sort_keys=False), "resolved/job.yaml")
    tracker.parent.log_text(json.dumps(data.summary(), indent=2), "data_summary.json")
    tracker.parent.log_text(json.dumps(data_source_record(loaded, data), indent=2), DATA_SOURCE_ARTIFACT)


def data_source_record(loaded: LoadedJob, data: Any) -> dict[str, Any]:
    """Where the sweep's data came from: the catalog entry and the data directory it was read
    from, or the user's files with their sha256. ``promote-best-model`` and ``report`` re-read the
    data from there, without the environment the sweep ran in, and refuse a changed file."""
    from finesweep.data.catalog import data_dir

    folder = data_dir()
    return {
        "catalog": loaded.job.dataset.name,
        "data_dir": str(folder) if folder is not None and loaded.job.dataset.name else None,
        "files": dict(getattr(data, "files", {})),
    }


def source_tags(loaded: LoadedJob, commit: str | None) -> dict[str, str]:
    """MLflow's own tags for where a run came from (the UI's Source and User columns): the job file,
    the git commit of the code that runs, and the user who ran it."""
    import getpass

    tags = {TAG_SOURCE_NAME: str(loaded.path), TAG_SOURCE_TYPE: "LOCAL"}
    if commit:
        tags[TAG_SOURCE_GIT_COMMIT] = commit
    try:
        tags[TAG_USER] = getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (some containers)
        pass
    return tags


def _dataset_inputs(state: SweepState) -> list[Any]:
    """The training/validation/test splits as MLflow dataset inputs; never fails the sweep."""
    from finesweep.tracking.datasets import dataset_inputs

    try:
        return dataset_inputs(state.data, data_source_record(state.loaded, state.data)["data_dir"])
    except Exception as exc:  # noqa: BLE001 - a description of the data is not worth a failed sweep
        say(f"warning: the data is not logged as MLflow dataset inputs ({type(exc).__name__}: {exc})")
        return []
