"""An estimate of one training worker's peak memory, from the base model's shape and the job.

``finesweep plan`` prints it and warns when the declared resources cannot hold it. It is an
estimate made before anything is loaded: the base model's ``config.json`` gives its shape and its
safetensors header its parameter count (no weights are read).

The parts, in bytes:

- weights: every parameter in float32 (autocast computes in bf16/fp16 but keeps float32 weights);
- gradients and optimizer state of the trainable parameters: 4 bytes each for the gradient, 8 for
  AdamW's two moments (4 for SGD's momentum);
- activations kept for the backward pass: per encoder layer and sequence, ``s*b*h*(34 + 5*a*s/h)``
  bytes in 16-bit precision, twice that in float32 (Korthikanti et al. 2022, "Reducing Activation
  Recomputation in Large Transformer Models", section 4.1, equation 1), plus, for a task whose
  outputs span the vocabulary (a sparse encoder's masked-LM head), three float32 ``b*s*V`` tensors
  (the logits, their activation and its gradient);
- the runtime: what a worker holds before its model (the CUDA context on a GPU, torch and its
  libraries on a CPU).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

# bytes a worker holds beside its model: the CUDA context and allocator on a GPU (about 0.5 GiB);
# on a CPU torch, transformers, Ray's worker, the data and evaluation (about 1 GiB: quickstart
# trials, MiniLM with LoRA at batch 16 x 64 tokens, peaked at 1.17 to 1.48 GiB resident on 2 CPUs)
RUNTIME_BYTES = {"gpu": 512 * 2**20, "cpu": 1024 * 2**20}
_OPTIMIZER_BYTES = {"adamw": 8, "adam": 8, "sgd": 4}  # float32 state per trainable parameter


@dataclass(frozen=True)
class ModelShape:
    """What the estimate needs of a transformer encoder."""

    parameters: int
    hidden: int
    layers: int
    heads: int
    vocab: int
    max_positions: int


@dataclass(frozen=True)
class Sequences:
    """Token sequences one training example feeds the encoder: ``count`` of up to ``length`` tokens
    each (a text; a query; a passage and its hard negatives); ``vocab_outputs`` when the task's head
    scores every vocabulary entry at every token (a sparse encoder)."""

    count: int
    length: int
    vocab_outputs: bool = False


@dataclass(frozen=True)
class StepShape:
    """What one worker trains at its largest: rows per step, sequences per row, how, in what precision."""

    rows: int  # examples in one forward and backward pass on this worker
    sequences: tuple[Sequences, ...]
    finetuning: str  # "lora" or "full"
    lora_r: int
    lora_targets: int  # linear layers per encoder layer that get adapters
    optimizer: str
    mixed_precision: str  # "auto", "no", "fp16" or "bf16"


@dataclass(frozen=True)
class MemoryEstimate:
    """A worker's estimated peak, in bytes, by part."""

    weights: int
    gradients: int
    optimizer: int
    activations: int
    runtime: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations + self.runtime

    def describe(self) -> str:
        """``2.1 GiB (weights 0.09, gradients 0.01, ...)``."""
        parts = ", ".join(f"{name} {_gib(getattr(self, name))}" for name in
                          ("weights", "gradients", "optimizer", "activations", "runtime"))  # fmt: skip
        return f"{_gib(self.total)} GiB ({parts})"


def _gib(n: int) -> str:
    return f"{n / 2**30:.3g}"


def read_model_shape(folder: Path) -> ModelShape | None:
    """The shape of the encoder saved in ``folder`` (a Hugging Face model directory), or None when
    its ``config.json`` is missing or names no BERT-like shape. Reads the config and the
    safetensors header only."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    try:
        hidden, layers = int(config["hidden_size"]), int(config["num_hidden_layers"])
        heads, vocab = int(config["num_attention_heads"]), int(config["vocab_size"])
        positions = int(config.get("max_position_embeddings") or 512)
    except (KeyError, TypeError, ValueError):
        return None
    counted = _safetensors_parameters(folder)
    if counted is None:  # BERT's layout: embeddings, then per layer 4h^2 attention + 2*h*ffn feed-forward
        ffn = int(config.get("intermediate_size") or 4 * hidden)
        counted = (vocab + positions) * hidden + layers * (4 * hidden * hidden + 2 * hidden * ffn + 9 * hidden + ffn)
    return ModelShape(counted, hidden, layers, heads, vocab, positions)


def _safetensors_parameters(folder: Path) -> int | None:
    """Parameters in the folder's ``*.safetensors`` files, from their headers (no weights read)."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for path in files:
        if not path.is_file():  # a FIFO or device named *.safetensors would block the read
            return None
        try:
            with path.open("rb") as handle:
                size = int.from_bytes(handle.read(8), "little")
                if not 0 < size < 100 * 2**20:  # a header is a few KiB to a few MiB of JSON
                    return None
                header = json.loads(handle.read(size))
            # buffers saved beside the weights (BERT's position_ids) are no parameters
            total += sum(math.prod(entry["shape"]) for key, entry in header.items()
                         if key != "__metadata__" and not key.endswith("position_ids"))  # fmt: skip
        except (OSError, ValueError, TypeError, KeyError, AttributeError):  # not a safetensors header: count from config.json
            return None
    return total


def estimate_peak_memory(model: ModelShape, step: StepShape, device: str) -> MemoryEstimate:
    """The estimate for one worker (``device`` "gpu" or "cpu"); see the module docstring."""
    if step.finetuning == "full":
        trainable = model.parameters
    else:  # each adapted (h x h) layer gains A (r x h) and B (h x r); the head is small beside them
        trainable = model.layers * step.lora_targets * 2 * step.lora_r * model.hidden
    # the paper's figure is for 16-bit; auto counts as float32 (the device may not have bf16)
    activation_scale = 1 if step.mixed_precision in ("bf16", "fp16") else 2
    activations = 0
    for sequences in step.sequences:
        s = min(sequences.length, model.max_positions)
        b = step.rows * sequences.count
        per_layer = s * b * model.hidden * (34 + 5 * model.heads * s / model.hidden)
        activations += int(per_layer * model.layers * activation_scale)
        if sequences.vocab_outputs:
            activations += 3 * 4 * b * s * model.vocab
    return MemoryEstimate(
        weights=4 * model.parameters,
        gradients=4 * trainable,
        optimizer=_OPTIMIZER_BYTES.get(step.optimizer, 8) * trainable,
        activations=activations,
        runtime=RUNTIME_BYTES[device],
    )
