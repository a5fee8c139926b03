"""The task registry: task names mapped lazily to their implementations.

Adding a task is one module in this package plus one line here. A task shipped in another
package is one module there plus one entry point in its packaging metadata, in the
``finesweep.tasks`` group (``name = "module:TASK"``), which Python lists for every installed
distribution. A job file only picks among these registered names: it never names a module.
Modules are imported only when a task is asked for, and keep torch/transformers imports inside
their worker-side functions, so validating a job file stays fast.
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from finesweep.tasks.base import Task

_REGISTRY: dict[str, str] = {
    "text_classification": "finesweep.tasks.text_classification:TASK",
    "contrastive_embedding": "finesweep.tasks.contrastive_embedding:TASK",
    "sparse_encoder": "finesweep.tasks.sparse_encoder:TASK",
}


ENTRY_POINT_GROUP = "finesweep.tasks"


@functools.lru_cache(maxsize=1)
def _registry() -> dict[str, str]:
    """The shipped tasks plus installed plugins' entry points (a shipped name always wins); read
    once per process (listing entry points scans every installed distribution, about 40 ms)."""
    from importlib.metadata import entry_points

    plugins = {point.name: point.value for point in entry_points(group=ENTRY_POINT_GROUP)}
    return {**plugins, **_REGISTRY}


def task_names() -> list[str]:
    """Names accepted by a job file's ``task`` key."""
    return sorted(_registry())


def get_task(name: str) -> "Task":
    """The task object registered under ``name`` (KeyError for unknown names; validation checks first)."""
    module_name, _, attribute = _registry()[name].partition(":")
    return getattr(importlib.import_module(module_name), attribute)
