"""How a trial's reported metrics are laid out in MLflow: most are metrics (one chart each), and
a task may keep a family of many (one F1 per label) in a table artifact instead, charting only a
few of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MetricTable:
    """A family of per-item metrics recorded as one JSON table per trial.

    ``columns`` are the items as ``(id, name, metric suffix)``; ``prefixes`` the metric names'
    stems (``val_f1_``); ``tabled`` the reported keys recorded only in the table (the others of
    the family are metrics too).
    """

    artifact: str
    columns: tuple[tuple[int, str, str], ...]
    tabled: frozenset[str]
    prefixes: tuple[str, ...]

    def in_family(self, key: str) -> bool:
        """Whether a reported key is one of this family's (charted or not)."""
        return key.startswith(self.prefixes)

    def items_json(self) -> list[dict[str, Any]]:
        """The items as the table's ``labels`` list: id, name and the metric suffix."""
        return [{"id": index, "name": name, "key": key} for index, name, key in self.columns]
