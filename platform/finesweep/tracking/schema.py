"""Every MLflow tag finesweep writes or reads, by name: its own ``finesweep.*`` tags, the baseline
figures, and the ``mlflow.*`` tags it sets or reads.

Each name is a constant here and a row of :data:`TAGS`, which says which runs carry it, which
module writes it and what its values are; ``docs/generate.py`` renders that table as the manual's
tag reference (``reference/tags.md``). Every other module imports the names from here, so that a
tag is spelled once (``tests/test_schema.py`` checks both). This module imports nothing from
finesweep: any module may import it.

The runs: a sweep's *parent* run (``finesweep.role`` ``sweep``), its *trial* runs (``trial``, the
children of the parent), the run of ``finesweep train`` (``train``), and the registry's *model
versions* that ``promote-best-model`` registers.
"""

from __future__ import annotations

from typing import NamedTuple

# -- every run of a sweep ----------------------------------------------------------------------
TAG_SWEEP = "finesweep.sweep"
TAG_ROLE = "finesweep.role"
TAG_STATUS = "finesweep.status"

# -- the parent run ----------------------------------------------------------------------------
TAG_OBJECTIVE = "finesweep.objective"
TAG_METRIC = "finesweep.metric"
TAG_MODE = "finesweep.mode"
TAG_TASK = "finesweep.task"
TAG_JOB = "finesweep.job"
TAG_SEARCHED = "finesweep.searched"
TAG_DATASET_FINGERPRINT = "finesweep.dataset_fingerprint"
TAG_BASE_MODEL = "finesweep.base_model"
TAG_STORAGE_PATH = "finesweep.storage_path"
TAG_TRIAL_RUNTIME = "finesweep.trial_runtime"
VERSION_PREFIX = "finesweep.version."
TAG_DEVICE = "finesweep.device"
TAG_WARM_START = "finesweep.warm_start"
TAG_WARM_START_TRIALS = "finesweep.warm_start_trials"
TAG_EXTENSIONS = "finesweep.extensions"
EXTENSION_PREFIX = "finesweep.extension_"
TAG_REPRODUCES_RUN = "finesweep.reproduces_run"
TAG_REPRODUCES_SWEEP = "finesweep.reproduces_sweep"
TAG_REPRODUCES_TRIAL = "finesweep.reproduces_trial"
TAG_INTERRUPTED_RUNS = "finesweep.interrupted_runs"
TAG_ENDED_BY = "finesweep.ended_by"
TAG_RESOURCES_RELEASED = "finesweep.resources_released"
TAG_BEST_TRIAL_ID = "finesweep.best_trial_id"
TAG_VERDICT = "finesweep.verdict"
TAG_PARETO_FRONT = "finesweep.pareto_front"
BASELINE_PREFIX = "baseline_"

# -- a trial run -------------------------------------------------------------------------------
TAG_TRIAL = "finesweep.trial_id"
TAG_CONFIG = "finesweep.config"
TAG_NODE = "finesweep.node"
TAG_NODES = "finesweep.nodes"
TAG_FINAL = "finesweep.final"
TAG_STOPPED_EARLY = "finesweep.stopped_early"
TAG_ENDED_BY_BUDGET = "finesweep.ended_by_budget"
TAG_RESTARTS = "finesweep.restarts"
TAG_PROCESS_TRIAL_INDEX = "finesweep.process_trial_index"
TAG_CHECKPOINT_PATH = "finesweep.checkpoint_path"
TAG_MODEL_URI = "finesweep.model_uri"
TAG_ERROR = "finesweep.error"
TAG_FAILURE = "finesweep.failure"
TAG_FAILURE_PHASE = "finesweep.failure_phase"
TAG_FAILURE_CAUSE = "finesweep.failure_cause"
TAG_OOM_BATCH_PIECES = "finesweep.oom_batch_pieces"
TAG_PRECISION = "finesweep.precision"
TAG_PARETO = "finesweep.pareto"
TAG_FEASIBLE = "finesweep.feasible"
TAG_VIOLATIONS = "finesweep.violations"

# -- the run of ``finesweep train`` and the registry's model versions --------------------------
TAG_MODEL_DIR = "finesweep.model_dir"
TAG_GIT_COMMIT = "finesweep.git_commit"

# -- MLflow's own tags -------------------------------------------------------------------------
TAG_PARENT = "mlflow.parentRunId"
TAG_SOURCE_NAME = "mlflow.source.name"
TAG_SOURCE_TYPE = "mlflow.source.type"
TAG_SOURCE_GIT_COMMIT = "mlflow.source.git.commit"
TAG_USER = "mlflow.user"

# A trial's report keys that say something about the trial rather than its model, each recorded
# as a tag rather than a metric (``tracking.metric_names.bookkeeping_tags``): the report key -> its tag.
BOOKKEEPING_TAGS = {"final": TAG_FINAL, "stopped_early": TAG_STOPPED_EARLY, "ended_by_budget": TAG_ENDED_BY_BUDGET,
                    "restarts": TAG_RESTARTS, "process_trial_index": TAG_PROCESS_TRIAL_INDEX,
                    "oom_batch_pieces": TAG_OOM_BATCH_PIECES}  # fmt: skip
# A trial's report keys whose values are text, recorded as tags as they are: the report key -> its tag.
TEXT_TAGS = {"precision": TAG_PRECISION}


def version_tag(name: str) -> str:
    """``finesweep.version.<name>``: the version of ``name`` (a library, ``python``, ``cuda``...)."""
    return f"{VERSION_PREFIX}{name}"


def extension_tag(extension: int) -> str:
    """``finesweep.extension_<n>``: what the sweep's n-th ``--more`` added."""
    return f"{EXTENSION_PREFIX}{extension}"


class Tag(NamedTuple):
    """One row of the tag reference."""

    key: str  # the tag's name, or the prefix of a family of tags
    runs: str  # which runs carry it
    writer: str  # the module (under finesweep.) that writes it
    values: str  # what it holds
    suffix: str = ""  # a family's varying part, shown after the prefix: ``<name>``


TAGS: tuple[Tag, ...] = (
    # every run of a sweep
    Tag(TAG_SWEEP, "parent, trial, model version", "tracking.parent_run, tracking.trial_runs, promotion.registry",
        "the sweep's name; also the metadata key of a Ray job that `finesweep submit` starts (cluster.submit)"),
    Tag(TAG_ROLE, "parent, trial, train", "tracking.parent_run, tracking.trial_runs, tuning.commands.train",
        "`sweep` (the parent run), `trial` (a trial run) or `train` (`finesweep train`)"),
    Tag(TAG_STATUS, "parent, trial", "tracking.parent_run, tracking.trial_runs, tuning._finish",
        "a trial's `running`, then `completed`, `pruned` or `failed` (`interrupted`: stopped by Ctrl-C, or left "
        "running by a killed driver and retired on `--resume`); "
        "the parent's `running`, then `finished`, `budget_spent`, `failed` or `interrupted`"),
    # the parent run
    Tag(TAG_OBJECTIVE, "parent, train", "tuning._record, tuning.commands.train",
        "the objective (goals and constraints) as JSON"),
    Tag(TAG_METRIC, "parent", "tuning._record", "the primary goal's metric, e.g. `val_macro_f1`"),
    Tag(TAG_MODE, "parent", "tuning._record", "the primary goal's direction: `max` or `min`"),
    Tag(TAG_TASK, "parent, train, model version", "tuning._record, tuning.commands.train, promotion.registry",
        "the task, e.g. `text_classification`"),
    Tag(TAG_JOB, "parent", "tuning._record", "the job's name: its `name` key, else its file's stem"),
    Tag(TAG_SEARCHED, "parent", "tuning._record", "the searched hyperparameters' names, comma-separated"),
    Tag(TAG_DATASET_FINGERPRINT, "parent, model version", "tuning._record, promotion.registry",
        "the fingerprint of the data the sweep (or the promotion's test split) read"),
    Tag(TAG_BASE_MODEL, "parent", "tuning._record", "the base model the trials fine-tune, as resolved"),
    Tag(TAG_STORAGE_PATH, "parent", "tuning._record",
        "where Tune keeps the sweep's results and checkpoints: a folder or an `s3://` URI"),
    Tag(TAG_TRIAL_RUNTIME, "parent", "tuning._record", "the trials' runtime, `scaling.runtime` of the job"),
    Tag(TAG_PRECISION, "trial", "tracking.metric_names",
        "the precision the trial trained in: `no` (float32), `bf16` or `fp16` (what `train.mixed_precision: auto` chose)"),
    Tag(VERSION_PREFIX, "parent", "tracking.provenance",
        "the version of `finesweep` (and `finesweep_commit`, its git commit from a checkout), `python`, "
        "each library the sweep depends on, and `cuda`", "<name>"),
    Tag(TAG_DEVICE, "parent", "tracking.provenance", "the driver's device: a CUDA device's name or `cpu (<machine>)`"),
    Tag(TAG_WARM_START, "parent", "tuning._record", "the sweeps a warm start took trials from, comma-separated"),
    Tag(TAG_WARM_START_TRIALS, "parent", "tuning._record", "how many earlier trials the warm start took"),
    Tag(TAG_EXTENSIONS, "parent", "tuning._record", "how many times `--resume --more` extended the sweep"),
    Tag(EXTENSION_PREFIX, "parent", "tuning._record", "what the n-th `--more` added: `K more trials`", "<n>"),
    Tag(TAG_REPRODUCES_RUN, "parent", "tuning.commands.reproduce", "a reproduction's original trial run id"),
    Tag(TAG_REPRODUCES_SWEEP, "parent", "tuning.commands.reproduce", "a reproduction's original sweep"),
    Tag(TAG_REPRODUCES_TRIAL, "parent", "tuning.commands.reproduce", "a reproduction's original trial id"),
    Tag(TAG_INTERRUPTED_RUNS, "parent", "tracking.trial_runs",
        "the run ids, comma-separated, of trial runs a killed driver left running, soft-deleted on `--resume`"),
    Tag(TAG_ENDED_BY, "parent", "tuning._finish",
        "what ended the sweep: `trials`, `budget.wall`, `budget.trial_epochs` or `interrupted`"),
    Tag(TAG_RESOURCES_RELEASED, "parent", "tuning._finish",
        "`True` or `False`: whether Ray handed back every resource the trials held"),
    Tag(TAG_BEST_TRIAL_ID, "parent", "tuning._finish", "the best trial's id, when one completed"),
    Tag(TAG_VERDICT, "parent", "tuning._finish", "one line: whether the best trial beats each baseline on validation and test, and what the data suggests when it does not"),
    Tag(TAG_PARETO_FRONT, "parent", "tuning._finish",
        "several objectives: the Pareto front's trial ids, comma-separated"),
    Tag(BASELINE_PREFIX, "parent", "tracking.parent_run",
        "one figure of a baseline the task or tuning._background measured, as exact text: `<name>` such as "
        "`default`, `trivial`, `probe`, `knn`, `untuned` or `bm25`, then `val_<metric>` or `test_<metric>` "
        "(`baseline_default_epochs`: the default configuration's epochs)", "<name>_<figure>"),
    # a trial run
    Tag(TAG_TRIAL, "trial, model version", "tracking.trial_runs, promotion.registry", "the Tune trial id"),
    Tag(TAG_CONFIG, "trial", "tracking.trial_runs",
        "the trial's sampled values as JSON, typed (unlike MLflow's text params)"),
    Tag(TAG_NODE, "trial", "tracking.trial_runs", "the IP of the Ray node the trial's last report came from"),
    Tag(TAG_NODES, "trial", "tracking.trial_runs", "every node the trial reported from, in order, comma-separated"),
    Tag(TAG_FINAL, "trial", "tracking.trial_runs", "`1` on the trial's last report, else `0`"),
    Tag(TAG_STOPPED_EARLY, "trial", "tracking.trial_runs", "`1` when early stopping ended the trial, else `0`"),
    Tag(TAG_ENDED_BY_BUDGET, "trial", "tracking.trial_runs", "`1` when the sweep's budget ended the trial, else `0`"),
    Tag(TAG_RESTARTS, "trial", "tracking.trial_runs", "how often the trial restarted from a checkpoint"),
    Tag(TAG_PROCESS_TRIAL_INDEX, "trial", "tracking.trial_runs",
        "the trial's index in its process: `1` in a fresh process, 2 or more in a reused one"),
    Tag(TAG_CHECKPOINT_PATH, "trial", "tracking.trial_runs", "where the completed trial's final checkpoint was logged from"),
    Tag(TAG_MODEL_URI, "trial", "tracking.trial_runs", "the URI (`models:/m-...`) of the completed trial's logged model"),
    Tag(TAG_ERROR, "trial", "tracking.trial_runs", "the one-line cause of a failed trial, or why a trial run was retired"),
    Tag(TAG_FAILURE, "trial", "tracking.failure", "why the trial failed: `out of memory` or `error`"),
    Tag(TAG_FAILURE_PHASE, "trial", "tracking.failure",
        "out of memory: what the trial was doing (`training epoch 2`, `starting its trial actor`, ...)"),
    Tag(TAG_FAILURE_CAUSE, "trial", "tracking.failure",
        "out of memory: host or device memory, and what ran out (Ray's memory monitor, torch's allocator, ...)"),
    Tag(TAG_OOM_BATCH_PIECES, "trial", "tracking.trial_runs",
        "the pieces each training batch ran in: `1`, or 2 and more after a step ran out of memory (failure.oom_retry)"),
    Tag(TAG_PARETO, "trial", "tuning._finish", "several objectives: `true` or `false`, on the Pareto front or not"),
    Tag(TAG_FEASIBLE, "trial", "tuning._finish", "constraints: `true` or `false`, whether every constraint holds"),
    Tag(TAG_VIOLATIONS, "trial", "tuning._finish", "constraints: the violated constraints, `; `-separated, or `none`"),
    # finesweep train, model versions
    Tag(TAG_MODEL_DIR, "train", "tuning.commands.train", "the folder `finesweep train` saved its model to"),
    Tag(TAG_GIT_COMMIT, "model version", "promotion.registry",
        "the git commit the sweep's code ran at (its parent's `mlflow.source.git.commit`), or `unknown`"),
    # MLflow's own
    Tag(TAG_PARENT, "trial", "tracking.trial_runs", "MLflow's link of a trial run to its parent run (the parent's run id)"),
    Tag(TAG_SOURCE_NAME, "parent, trial, train", "tuning._record, tracking.runs",
        "MLflow's Source column: the job file (a reproduction keeps the original's)"),
    Tag(TAG_SOURCE_TYPE, "parent, trial, train", "tuning._record, tracking.runs", "MLflow's source type: `LOCAL`"),
    Tag(TAG_SOURCE_GIT_COMMIT, "parent, trial", "tuning._record, tracking.runs",
        "the git commit of the finesweep code that runs, when it runs from a git checkout"),
    Tag(TAG_USER, "parent, trial, train", "tuning._record, tracking.runs", "MLflow's User column: who ran it"),
)  # fmt: skip
