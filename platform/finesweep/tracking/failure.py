"""Why a trial failed, in words the sweep's record and console share: ``out of memory`` (host or
device, and what the trial was doing) or another error.

A failed trial reaches the driver as text (Tune's error file, or the one-line error the summary
keeps), so the classification reads text: the trial's own :class:`~finesweep.training.memory.
TrialOutOfMemory` (device memory, with its phase), Ray's memory monitor (``OutOfMemoryError``,
"worker(s) were killed due to the node running low on memory"), torch's allocators, and a
process killed without a Python error (SIGKILL, as the kernel's OOM killer kills).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from finesweep.tracking.schema import TAG_FAILURE, TAG_FAILURE_CAUSE, TAG_FAILURE_PHASE
from finesweep.training.memory import OUT_OF_MEMORY

OTHER_ERROR = "error"

# What to change when trials run out of memory (docs/failures.md says the same).
OOM_ADVICE = ("lower train.batch_size (or raise train.grad_accum_steps for the same effective batch) or "
              "train.max_length, or run fewer trials per device (raise scaling.cpus_per_worker or gpus_per_worker)")  # fmt: skip

_OWN = re.compile(rf"{OUT_OF_MEMORY} while (?P<phase>[^:\n]+): (?P<detail>[^\n]*)")
# Ray's memory monitor: its exception, its first line, and the advice it ends with (the last line,
# which is all a one-line headline of its message keeps)
_RAY_MONITOR = ("OutOfMemoryError", "running low on memory", "running out of memory", "memory monitor",
                "address the out of memory issue", "RAY_memory_usage_threshold")
_DEVICE = ("CUDA out of memory", "MPS backend out of memory", "torch.OutOfMemoryError", "torch.cuda.OutOfMemoryError")
_ALLOCATOR = "can't allocate memory"
_KILLED = ("SIGKILL", "OOM killer", "exits with a connection error code", "killed by signal 9")


@dataclass(frozen=True)
class TrialFailure:
    """One failed trial's reason (``out of memory`` or ``error``), which memory ran out (``host``,
    ``device``, or None), what ran it out, and what the trial was doing (its phase)."""

    reason: str
    memory: str | None = None
    cause: str = ""
    phase: str = ""

    @property
    def out_of_memory(self) -> bool:
        """True when the trial ran out of memory."""
        return self.reason == OUT_OF_MEMORY

    def describe(self) -> str:
        """``out of memory while training epoch 2 (host memory: Ray's memory monitor killed ...)``."""
        if not self.out_of_memory:
            return self.reason
        while_ = f" while {self.phase}" if self.phase else ""
        return f"{OUT_OF_MEMORY}{while_} ({self.memory} memory: {self.cause})"


def classify(text: str | None, last_epoch: float | None = None) -> TrialFailure:
    """The failure a trial's error text tells; ``last_epoch`` (its last reported epoch, None before
    any report) names the phase when the text does not (a killed process says nothing of it)."""
    text = text or ""
    own = _OWN.search(text)
    if own:
        memory, cause = _device_cause(own.group("detail"))
        return TrialFailure(OUT_OF_MEMORY, memory, cause, own.group("phase").strip())
    if any(marker in text for marker in _RAY_MONITOR):
        return TrialFailure(OUT_OF_MEMORY, "host", "Ray's memory monitor killed the trial's process",
                            _phase_of_kill(text, last_epoch))  # fmt: skip
    if any(marker in text for marker in _DEVICE) or _ALLOCATOR in text:
        memory, cause = _device_cause(text)
        return TrialFailure(OUT_OF_MEMORY, memory, cause, _phase_of_kill(text, last_epoch))
    if any(marker in text for marker in _KILLED):
        return TrialFailure(OUT_OF_MEMORY, "host", "its process was killed (SIGKILL) without a Python error, as the "
                            "kernel's OOM killer kills; Ray cannot tell it from another kill",
                            _phase_of_kill(text, last_epoch))  # fmt: skip
    return TrialFailure(OTHER_ERROR)


def _device_cause(text: str) -> tuple[str, str]:
    if _ALLOCATOR in text:
        return "host", "the CPU allocator refused an allocation"
    if "MPS" in text:
        return "device", "the MPS backend could not allocate"
    return "device", "torch.cuda.OutOfMemoryError"


def _phase_of_kill(text: str, last_epoch: float | None) -> str:
    """What a killed trial was doing, from Ray's task name and the trial's last report."""
    if re.search(r"task name=\S*\.__init__", text) or "actor_init_failed" in text:
        return "starting its trial actor"
    if last_epoch is None or last_epoch < 1:
        return "starting (data, model or epoch 1)"
    return f"training or evaluating epoch {int(last_epoch) + 1}"


def failure_counts(errors: Iterable[str]) -> str:
    """``2 trials failed: out of memory (2)``; empty when no trial failed."""
    reasons = Counter(classify(text).reason for text in errors)
    total = sum(reasons.values())
    if not total:
        return ""
    parts = ", ".join(f"{reason} ({count})" for reason, count in reasons.most_common())
    return f"{total} trial{'s' if total > 1 else ''} failed: {parts}"


def failure_tags(error: str | None, result: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The tags a failed trial's run gets: ``finesweep.failure`` (reason) and, when it ran out of
    memory, ``finesweep.failure_phase`` and ``finesweep.failure_cause``."""
    if not error:
        return {}
    epoch = (result or {}).get("epoch")
    failure = classify(error, float(epoch) if isinstance(epoch, (int, float)) else None)
    tags = {TAG_FAILURE: failure.reason}
    if failure.out_of_memory:
        tags.update({TAG_FAILURE_PHASE: failure.phase, TAG_FAILURE_CAUSE: f"{failure.memory} memory: {failure.cause}"})
    return tags


def error_text(error: str, result: Mapping[str, Any] | None = None) -> str:
    """A failed trial's ``error.txt``: for an out-of-memory failure, a first line saying so and what
    to change, then the error as Tune recorded it."""
    epoch = (result or {}).get("epoch")
    failure = classify(error, float(epoch) if isinstance(epoch, (int, float)) else None)
    if not failure.out_of_memory:
        return error
    return f"{failure.describe()}\nto fit: {OOM_ADVICE}\n\n{error}"
