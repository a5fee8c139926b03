"""The task registry: task names mapped lazily to their implementations.

Adding a task is one module in this package plus one line here. Modules are imported only when
a task is asked for, and keep torch/transformers imports inside their worker-side functions, so
validating a job file stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from finesweep.tasks.base import Task

_REGISTRY: dict[str, str] = {
    "text_classification": "finesweep.tasks.text_classification:TASK",
    "contrastive_embedding": "finesweep.tasks.contrastive_embedding:TASK",
    "sparse_encoder": "finesweep.tasks.sparse_encoder:TASK",
}


def task_names() -> list[str]:
    """Names accepted by a job file's ``task`` key."""
    return sorted(_REGISTRY)


def get_task(name: str) -> "Task":
    """The task object registered under ``name`` (KeyError for unknown names; validation checks first)."""
    module_name, _, attribute = _REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module_name), attribute)
