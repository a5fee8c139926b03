"""Which precision a trial's forward pass runs in: ``train.mixed_precision`` resolved for its device.

``auto`` (the default) picks bf16 autocast where the device computes bf16 natively, float32
elsewhere:

- a CUDA device that supports bf16 (Ampere and newer: ``torch.cuda.is_bf16_supported()``);
- a CPU with AVX512-BF16 or AMX (the ``avx512_bf16`` / ``amx_bf16`` flags of /proc/cpuinfo):
  oneDNN runs bf16 matrix products there at up to twice float32's rate; without them bf16 is
  emulated and slower than float32;
- anything else (Apple's MPS, older GPUs and CPUs) stays float32.

fp16 is used only when a job asks for it, and only on CUDA (with a gradient scaler). Weights,
gradients and the optimizer stay float32 in every mode: autocast changes what the matrix
products compute in, not what is stored.
"""

from __future__ import annotations

from pathlib import Path

import torch

BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
PRECISIONS = ("no", "fp16", "bf16")  # what a trial can run in ("no": float32)


def choose_precision(requested: str, device_type: str, cuda_bf16: bool, cpu_flags: frozenset[str]) -> str:
    """The precision a trial runs in, from what was asked and what the device reports.

    ``device_type`` is torch's (``cuda``, ``cpu``, ``mps``); ``cuda_bf16`` what
    ``torch.cuda.is_bf16_supported()`` says of the trial's CUDA device; ``cpu_flags`` the CPU's
    feature flags. A pure function: tested on both answers of every device.
    """
    if requested == "auto":
        if device_type == "cuda":
            return "bf16" if cuda_bf16 else "no"
        if device_type == "cpu":
            return "bf16" if cpu_flags & BF16_CPU_FLAGS else "no"
        return "no"
    if requested == "fp16" and device_type != "cuda":
        return "no"  # fp16 autocast needs CUDA's loss scaling; elsewhere it is float32 (documented)
    return requested


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """This machine's CPU feature flags (Linux); empty where /proc/cpuinfo is unreadable."""
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("flags"):
                return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def resolve_precision(requested: str, device: torch.device) -> str:
    """:func:`choose_precision` for ``device`` on this machine."""
    cuda_bf16 = device.type == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return choose_precision(requested, device.type, cuda_bf16, cpu_flags() if device.type == "cpu" else frozenset())


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a resolved precision (None: float32, no autocast)."""
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)


def describe_choice(requested: str, on_gpus: bool, searched: bool) -> str:
    """The sweep's line about precision: what was asked and, for ``auto`` on CPUs, what this
    machine's CPU gives (a trial on another node decides on its own device)."""
    if searched:
        return "precision searched (train.mixed_precision in the space); each trial run records the one it used"
    if requested != "auto":
        return f"precision {requested}" + (" (float32 on CPUs)" if requested == "fp16" and not on_gpus else "")
    if on_gpus:
        return "precision auto: bf16 on GPUs that support it, else float32; each trial run records the one it used"
    local = "bf16" if cpu_flags() & BF16_CPU_FLAGS else "float32"
    return f"precision auto: {local} on this machine's CPU; each trial run records the one it used"
