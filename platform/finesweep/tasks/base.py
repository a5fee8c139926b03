"""What every task provides: a parameter model, metric checks, data preparation and a worker runtime."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

from finesweep.objective import MetricCatalog, MetricFamily
from finesweep.objective.layout import MetricTable

if TYPE_CHECKING:
    import numpy as np

    from finesweep.config.loader import LoadedJob
    from finesweep.config.schema import DatasetConfig
    from finesweep.data.prepare import PreparedData
    from finesweep.training.peak_memory import Sequences
    from finesweep.training.spec import TrialSpec


@dataclass
class HeldOut:
    """A served model's figures on a sweep's held-out (test) split, for champion/challenger comparison.

    ``score(metric, indices)`` recomputes one figure on a resample of the split's examples (texts
    or queries; ``indices`` may repeat), which the paired bootstrap draws for both models alike.
    """

    metrics: dict[str, float]  # test_* figures, named as the sweep's trials log them
    examples: int  # how many units the bootstrap resamples
    unit: str  # what one example is: "text" or "query"
    size_mb: float  # the model folder on disk, MiB
    latency_ms: dict[str, float]  # wall time per unit, e.g. latency_ms_per_text
    score: Callable[[str, "np.ndarray"], float] | None = None
    bootstrappable: tuple[str, ...] = field(default_factory=tuple)  # metrics ``score`` can recompute


class TrainParams(BaseModel):
    """Hyperparameters every task shares; each is settable in ``train:`` and searchable in a space."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

    learning_rate: float = Field(
        default=5e-4, gt=0, le=1,
        description="The peak learning rate, reached at the end of warmup; lr_scheduler then decays it or holds it.",
    )  # fmt: skip
    head_learning_rate: float | None = Field(
        default=None, gt=0, le=1,
        description="The peak learning rate of the modules trained in full beside the LoRA adapters (a "
                    "classifier and pooler, a masked-LM head), which start from random weights; unset: "
                    "learning_rate (finetuning: lora only).",
    )  # fmt: skip
    epochs: int = Field(
        default=3, ge=1, le=1000,
        description="Passes over the training split; ASHA or early stopping may end a trial sooner.",
    )  # fmt: skip
    batch_size: int = Field(
        default=32, ge=1, le=65536,
        description="Training examples per batch, over all of a trial's workers together (each takes its share).",
    )  # fmt: skip
    # batches of similar lengths: less padding, faster steps
    group_by_length: bool = Field(
        default=True,
        description="Batch training examples of similar token lengths together (batch order still shuffled, "
                    "seeded): less padding, faster steps. false: plain shuffled batches.",
    )  # fmt: skip
    eval_batch_size: int = Field(
        default=128, ge=1, le=65536,
        description="Examples per batch when evaluating (texts, queries or corpus passages); the latency metrics "
                    "are measured at this batch size.",
    )  # fmt: skip
    max_length: int = Field(
        default=128, ge=8, le=8192,
        description="The longest input in tokens (retrieval tasks: the passage length): longer texts are "
                    "truncated, and batches are padded only to their longest text.",
    )  # fmt: skip
    finetuning: Literal["lora", "full"] = Field(
        default="lora",
        description="lora trains LoRA adapters on the frozen base model (a task's head, such as the classifier, "
                    "is trained in full); full trains every weight.",
    )  # fmt: skip
    lora_r: int = Field(
        default=8, ge=1, le=1024, description="The rank of the LoRA update matrices (finetuning: lora only)."
    )
    lora_alpha: float = Field(
        default=16.0, gt=0, le=1e6,
        description="The LoRA scaling: updates are multiplied by lora_alpha / lora_r (finetuning: lora only).",
    )  # fmt: skip
    lora_dropout: float = Field(
        default=0.1, ge=0, lt=1,
        description="Dropout probability on the input of the LoRA layers (finetuning: lora only).",
    )  # fmt: skip
    optimizer: Literal["adamw", "adam", "sgd"] = Field(
        default="adamw",
        description="The optimizer of the trainable parameters: adamw, adam or sgd (with momentum).",
    )  # fmt: skip
    momentum: float = Field(
        default=0.9, ge=0, lt=1, description="The momentum of the sgd optimizer; adamw and adam ignore it."
    )
    weight_decay: float = Field(
        default=0.01, ge=0, le=1e3,
        description="Weight decay of the optimizer (decoupled for adamw); biases and LayerNorm weights get none.",
    )  # fmt: skip
    lr_scheduler: Literal["linear", "cosine", "constant"] = Field(
        default="linear",
        description="The learning rate after warmup: linear or cosine decay to 0 by the last step, or constant.",
    )  # fmt: skip
    warmup_ratio: float = Field(
        default=0.06, ge=0, lt=1,
        description="Fraction of the trial's optimizer steps (all epochs) over which the learning rate rises "
                    "linearly from 0 to learning_rate.",
    )  # fmt: skip
    grad_accum_steps: int = Field(
        default=1, ge=1, le=1024,
        description="Batches whose gradients are averaged before each optimizer step: the effective batch is "
                    "batch_size x grad_accum_steps.",
    )  # fmt: skip
    max_grad_norm: float | None = Field(
        default=1.0, gt=0, le=1e6,
        description="Gradients are clipped to this total L2 norm before every optimizer step; null: no "
                    "clipping.",
    )  # fmt: skip
    early_stopping_patience: int = Field(
        default=0, ge=0, le=1000,
        description="End a trial after this many epochs in a row without a better validation value of the sweep's "
                    "metric; 0 turns early stopping off.",
    )  # fmt: skip
    mixed_precision: Literal["auto", "no", "fp16", "bf16"] = Field(
        default="auto",
        description="Autocast precision of the training forward pass: auto (bf16 on a CUDA device that supports it "
                    "or a CPU with AVX512-BF16 or AMX, else float32), no (float32), fp16 (CUDA only, with loss "
                    "scaling; float32 elsewhere) or bf16. Weights, optimizer and evaluation stay float32; each "
                    "trial run records the precision used in the tag finesweep.precision.",
    )  # fmt: skip
    # numpy's and Optuna's seeds are 32-bit unsigned
    seed: int = Field(
        default=42, ge=0, le=2**32 - 1,
        description="Seed of the trial's randomness (new layers' initial weights, dropout, batch order, "
                    "oversampling): on a CPU the same seed and configuration give the same figures.",
    )  # fmt: skip


SPLITS_WITH_TRAIN = ("train", "val", "test")  # a loss is also reported on the training split
_LENGTH_KEYS = ("max_length", "max_query_length")  # token lengths a trial may pad or truncate to


def _model_file_problems(loaded: "LoadedJob", source: str, location: str) -> list[str]:
    """The model folder's own problems (:func:`~finesweep.models.preflight.model_folder_problems`,
    as for a teacher), and token lengths beyond the model's position embeddings."""
    from pathlib import Path

    from finesweep.models.preflight import max_positions, model_config, model_folder_problems

    folder = Path(location)
    problems = [f"{source}: model.base: {problem}" for problem in model_folder_problems(folder)]
    config = model_config(folder)
    if config is None:
        return problems
    limit = max_positions(config)
    for key in _LENGTH_KEYS:
        if limit is None or not hasattr(loaded.params, key):
            continue
        value = loaded.largest(key)
        where = f"search.space {key}" if key in loaded.space else f"train.{key}"
        if isinstance(value, int) and value > limit:
            problems.append(
                f"{source}: {where}: must be at most the model's {limit} positions (got {value}); "
                "longer inputs cannot be embedded"
            )
    return problems


def baseline_spec(loaded: "LoadedJob", base_location: str) -> "TrialSpec":
    """A spec for evaluating the untuned base model on the driver (a baseline, no training)."""
    from finesweep.models.resolve import ResolvedModel
    from finesweep.training.spec import TrialSpec

    job = loaded.job
    return TrialSpec(
        task=job.task, data_ref=None, data_key="", objective=loaded.objective,
        base_model=ResolvedModel(base_location, "local", None, job.model.base),
        lora_target_modules=job.model.lora_target_modules, trust_remote_code=job.model.trust_remote_code,
        fixed_params=loaded.params.model_dump(), runtime="in_trial",
    )


class Task:
    """Base class of a task type. Subclasses set ``name``, ``params_model`` and ``metrics`` and
    implement the rest."""

    name: str = ""
    params_model: type[BaseModel] = TrainParams
    # Every metric the task reports, with its direction: the only place a direction is known.
    metrics: MetricCatalog = MetricCatalog((MetricFamily("loss", "min", "the training loss", SPLITS_WITH_TRAIN),))
    default_metric: str = "val_loss"  # what a job that names no metric optimises
    # The references its sweeps log on the parent run: (metric-name prefix, what it is); a
    # baseline's figures are <prefix>val_<metric> and <prefix>test_<metric>.
    baselines: tuple[tuple[str, str], ...] = ()
    # The baselines a promoted model must beat on the held-out split, the best of those the sweep
    # recorded: (name prefix, what losing to it means); empty: no floor
    guard_baselines: tuple[tuple[str, str], ...] = ()
    data_kind: str = "labels"  # the catalog kind this task reads: "labels" or "pairs"
    # How its trained model is served, named lazily ("module:Class", like the task registry), so
    # that tasks never import serving: ``load_model`` builds it from the model folder as
    # ``Class(folder, device=..., batch_size=...)``; MLflow loads it through the pyfunc entry file
    # of that name in ``finesweep/serving``, whose output columns are ``pyfunc_outputs``
    # ((type, name) pairs; empty when they have no fixed schema, such as vectors).
    served_by: str = "finesweep.serving.classifier:TextClassifier"
    pyfunc_entry: str = "mlflow_pyfunc.py"
    pyfunc_outputs: tuple[tuple[str, str], ...] = (("string", "label"), ("double", "confidence"))

    # the encoder's outputs span the vocabulary at every token (a masked-LM head): memory estimate
    vocab_outputs: bool = False

    def training_sequences(self, loaded: "LoadedJob") -> tuple["Sequences", ...]:
        """The token sequences one training example feeds the encoder at their longest (the search
        space's bounds included), for ``finesweep plan``'s peak-memory estimate: one text here."""
        from finesweep.training.peak_memory import Sequences

        return (Sequences(1, int(loaded.largest("max_length")), self.vocab_outputs),)

    def check_metric(self, metric: str, mode: str | None) -> str | None:
        """A problem with an objective's metric (and the mode a job gave it, if any) known before the
        data is read, or None. The direction is the task's declaration, never guessed from the name."""
        declared = self.metrics.mode(metric)
        if declared is None:
            allowed = ", ".join(name for name in self.metrics.allowed() if not name.startswith("test_"))
            return f"unknown metric for {self.name} (got {metric!r}); allowed: {allowed}"
        if mode is not None and mode != declared:
            verb = "maximised" if declared == "max" else "minimised"
            return f"{metric} is {verb}; write mode: {declared} or leave mode out (got mode {mode!r})"
        return None

    def check_job(self, loaded: "LoadedJob", source: str) -> list[str]:
        """Task-specific problems with the whole job: a catalog dataset of the wrong kind, a base
        model that cannot be found."""
        from finesweep.data.catalog import CATALOG
        from finesweep.errors import FinesweepError
        from finesweep.models.resolve import resolve_base_model

        problems = []
        name = loaded.job.dataset.name
        if name in CATALOG and CATALOG[name].kind != self.data_kind:
            wanted = "(query, passage) pairs" if self.data_kind == "pairs" else "labelled texts"
            fits = sorted(n for n, e in CATALOG.items() if e.kind == self.data_kind)
            problems.append(
                f"{source}: dataset.name: {self.name} needs {wanted} (got {name!r}, a {CATALOG[name].kind} dataset); "
                f"catalog datasets that fit: {', '.join(fits)}"
            )
        try:
            base = resolve_base_model(loaded.job.model.base, loaded.path.parent)
        except FinesweepError as exc:
            problems.append(f"{source}: {exc}")
            return problems
        if base.kind != "hub":
            problems.extend(_model_file_problems(loaded, source, base.location))
        return problems

    def baseline_metrics(self, loaded: "LoadedJob", data: Any, base_location: str) -> dict[str, float]:
        """Figures of a reference the trials should beat (the untuned base model, BM25), computed once
        per sweep on the driver and logged on the parent run; none by default."""
        return {}

    def background_baselines(self, loaded: "LoadedJob", data: Any, base_location: str) -> Callable[[], dict[str, float]] | None:
        """A picklable callable computing baselines too slow to wait for (a frozen-base probe): the
        sweep runs it in a Ray task beside the trials and logs what it returns on the parent run.
        None (the default): no such baseline."""
        return None

    def prepare_data(self, loaded: "LoadedJob") -> "PreparedData":
        """Load and split the dataset on the driver; raise DataError for bad data."""
        raise NotImplementedError

    def check_prepared(self, loaded: "LoadedJob", data: "PreparedData") -> None:
        """Problems visible only once the data is read (e.g. ``val_f1_<label>`` for an unknown label)."""

    def metric_table(self, data: "PreparedData", named: set[str]) -> MetricTable | None:
        """The family of per-item metrics this task keeps in a table artifact rather than one chart
        each, given the metrics the sweep's goals and constraints name; none by default."""
        return None

    def pretokenize(self, loaded: "LoadedJob", data: "PreparedData", tokenizer_location: str) -> None:
        """Tokenize the splits once on the driver (into ``data.extra``) when every trial would do the
        same; a no-op by default."""

    def build_runtime(self, params: Any, data: "PreparedData", spec: "TrialSpec", device: Any) -> Any:
        """The worker-side runtime (see ``training.loop.TaskRuntime``)."""
        raise NotImplementedError

    # -- after the sweep: promotion and serving ----------------------------------------------------

    def held_out_split(self, dataset: "DatasetConfig") -> Any:
        """The sweep's test split, rebuilt from its recorded dataset section (the caller has pointed
        the catalog at the sweep's own data). Its ``fingerprint`` names the data."""
        raise NotImplementedError(f"{self.name} does not support promotion")

    def evaluate_held_out(self, model: Any, split: Any) -> HeldOut:
        """``model`` (what ``finesweep.load_model`` returns for this task) on ``split``."""
        raise NotImplementedError(f"{self.name} does not support promotion")
