"""Out of memory inside a trial: recognising it, naming what the trial was doing, and redoing a
training step's batches in smaller pieces before giving up.

The loop runs each part of a trial (fetching the data, loading the model, an epoch's training
steps, an evaluation) inside :func:`phase`; a device or allocator out-of-memory error raised
there leaves the trial as :class:`TrialOutOfMemory`, whose text names the phase, so the driver's
record (``tracking.failure``) can say ``out of memory while training epoch 2`` instead of a
traceback. torch is imported only inside the functions that need it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

OUT_OF_MEMORY = "out of memory"

# How a trial may retry a training step that ran out of device memory (TrialSpec.oom_retry):
# always; exact: only when the loss is a mean over examples (the pieces then give the same
# gradient); never.
OomRetry = Literal["always", "exact", "never"]

# What torch's allocators say when they cannot allocate: CUDA and MPS ("CUDA out of memory",
# "MPS backend out of memory") and the CPU allocator ("DefaultCPUAllocator: can't allocate memory").
_ALLOCATOR_TEXTS = ("out of memory", "can't allocate memory")


class TrialOutOfMemory(RuntimeError):
    """The trial ran out of memory while doing ``phase`` (e.g. ``training epoch 2``); ``detail`` is
    the allocator's own one-line message."""

    def __init__(self, phase: str, detail: str) -> None:
        self.phase, self.detail = phase, detail
        super().__init__(f"{OUT_OF_MEMORY} while {phase}: {detail}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # Ray pickles a trial's exception to the driver; the default would call __init__ with one argument
        return TrialOutOfMemory, (self.phase, self.detail)


def is_out_of_memory(error: BaseException) -> bool:
    """True for torch's out-of-memory errors: ``torch.OutOfMemoryError`` (CUDA), and the
    ``RuntimeError`` MPS and the CPU allocator raise, recognised by their message."""
    import torch

    if isinstance(error, (torch.OutOfMemoryError, TrialOutOfMemory)):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and any(marker in text for marker in _ALLOCATOR_TEXTS)


def first_line(error: BaseException) -> str:
    """The error's first non-empty line (CUDA's message runs to several), at most 300 characters."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (lines[0] if lines else type(error).__name__)[:300]


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Run a part of the trial; an out-of-memory error raised in it leaves as :class:`TrialOutOfMemory`
    naming ``name`` (an inner phase's name is kept: it is the more precise)."""
    try:
        yield
    except TrialOutOfMemory:
        raise
    except RuntimeError as error:
        if not is_out_of_memory(error):
            raise
        raise TrialOutOfMemory(name, first_line(error)) from error


def split_rows(rows: int, pieces: int) -> list[slice]:
    """``rows`` cut into ``pieces`` contiguous slices as equal as can be (never an empty one)."""
    pieces = max(1, min(pieces, rows))
    size, extra = divmod(rows, pieces)
    slices, start = [], 0
    for index in range(pieces):
        stop = start + size + (1 if index < extra else 0)
        slices.append(slice(start, stop))
        start = stop
    return slices
