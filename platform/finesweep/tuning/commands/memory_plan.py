"""``finesweep plan``'s memory check: a trial worker's estimated peak against what holds it.

The estimate (:mod:`finesweep.training.peak_memory`) takes the job at its largest: the search
space's upper bounds of ``batch_size``, ``max_length`` and ``lora_r``, full fine-tuning or float32
when the space can pick them. A GPU worker is compared with its share of one GPU
(``gpus_per_worker`` of ``--gpu-memory``, or of this machine's first CUDA device); CPU workers with
their node's memory where it is known (this machine's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from finesweep.config.loader import LoadedJob
from finesweep.config.space import finite_values
from finesweep.errors import FinesweepError
from finesweep.training.peak_memory import MemoryEstimate, StepShape, estimate_peak_memory, read_model_shape

_AUTO_LORA_TARGETS = 2  # PEFT's default for BERT-like encoders: query and value


@dataclass(frozen=True)
class MemoryLimits:
    """What holds a worker, in bytes (None: not known for this cluster)."""

    node_bytes: float | None = None  # one node's memory (CPU workers share it)
    gpu_bytes: float | None = None  # one GPU's memory


@dataclass(frozen=True)
class MemoryPlan:
    """The estimate (None when the base model's shape is unknown, with ``note`` saying why)."""

    estimate: MemoryEstimate | None
    device: str  # "gpu" or "cpu"
    basis: str  # what the estimate assumes, in words
    note: str = ""

    def line(self) -> str:
        """The line ``finesweep plan`` prints."""
        if self.estimate is None:
            return f"peak memory per worker: not estimated ({self.note})"
        return f"peak memory per worker (estimate, on {self.device.upper()}): {self.estimate.describe()}; {self.basis}"


def _searched(loaded: LoadedJob, key: str, value: object) -> bool:
    """True when the job trains with ``value`` for ``key``, fixed or as one of the space's values."""
    spec = loaded.space.get(key)
    if spec is None:
        return getattr(loaded.params, key, None) == value
    values = finite_values(spec)
    return values is not None and value in values


def step_shape(loaded: LoadedJob, sequences: tuple, workers: int) -> StepShape:
    """The largest step one worker of ``loaded``'s trials trains."""
    targets = loaded.job.model.lora_target_modules
    rows = math.ceil(int(loaded.largest("batch_size")) / workers)  # each worker takes its share
    return StepShape(
        rows=rows,
        sequences=sequences,
        finetuning="full" if _searched(loaded, "finetuning", "full") else "lora",
        lora_r=int(loaded.largest("lora_r") or 0),
        lora_targets=_AUTO_LORA_TARGETS if targets == "auto" else len(targets),
        optimizer="adamw" if _searched(loaded, "optimizer", "adamw") else str(getattr(loaded.params, "optimizer", "adamw")),
        mixed_precision="no" if _searched(loaded, "mixed_precision", "no") else str(loaded.params.mixed_precision),
    )  # fmt: skip


def memory_plan(loaded: LoadedJob, sequences: tuple) -> MemoryPlan:
    """The estimate for ``loaded``'s trial workers (``sequences``: the task's ``training_sequences``)."""
    from finesweep.models.resolve import resolve_base_model

    scaling = loaded.job.scaling
    device = "gpu" if scaling.gpus_per_worker else "cpu"
    try:
        location = Path(resolve_base_model(loaded.job.model.base, loaded.path.parent).location)
    except FinesweepError as exc:
        return MemoryPlan(None, device, "", f"the base model: {exc}")
    shape = read_model_shape(location) if location.is_dir() else None
    if shape is None:
        return MemoryPlan(None, device, "", f"{loaded.job.model.base!r} has no local config.json with a BERT-like shape")
    step = step_shape(loaded, sequences, scaling.workers_per_trial)
    longest = ", ".join(f"{s.count} x {s.length} tokens" for s in step.sequences)
    tuning = f"LoRA r {step.lora_r}" if step.finetuning == "lora" else "full fine-tuning"
    precision = {"no": "float32 activations",
                 "auto": "float32 activations (auto picks bf16 where the device has it: about half)"}.get(
        step.mixed_precision, f"{step.mixed_precision} activations")  # fmt: skip
    basis = (f"{shape.parameters / 1e6:.3g}M parameters, {step.rows} example(s) per step per worker "
             f"({longest} each), {tuning}, {step.optimizer}, {precision}")  # fmt: skip
    return MemoryPlan(estimate_peak_memory(shape, step, device), device, basis)


def memory_warnings(plan: MemoryPlan, limits: MemoryLimits, workers_per_node: list[int], gpus_per_worker: float) -> list[str]:
    """Where the declared resources cannot hold the estimate."""
    estimate = plan.estimate
    if estimate is None:
        return []
    advice = "lower train.batch_size (raise grad_accum_steps to keep the effective batch) or max_length"
    if plan.device == "gpu" and limits.gpu_bytes:
        share = min(gpus_per_worker, 1.0) * limits.gpu_bytes
        if estimate.total > share:
            return [f"a trial worker's estimated peak, {estimate.total / 2**30:.3g} GiB, exceeds its share of a GPU "
                    f"({min(gpus_per_worker, 1.0):g} x {limits.gpu_bytes / 2**30:.3g} GiB = {share / 2**30:.3g} GiB): "
                    f"{advice}, or raise scaling.gpus_per_worker"]  # fmt: skip
    if plan.device == "cpu" and limits.node_bytes:
        crowded = max(workers_per_node, default=0)
        if crowded and crowded * estimate.total > limits.node_bytes:
            return [f"{crowded} trial worker(s) on one node need about {crowded * estimate.total / 2**30:.3g} GiB at "
                    f"their peak but it has {limits.node_bytes / 2**30:.3g} GiB: {advice}, or lower "
                    "scaling.max_concurrent_trials"]  # fmt: skip
    return []
