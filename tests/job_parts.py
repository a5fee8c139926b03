"""Job-file sections that many tests' helpers share."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

# the frozen probe and the default trial are tested in test_baselines; in the other sweeps they
# would only share the 2 CPUs with the trials
WITHOUT_BASELINES: dict[str, bool] = {"frozen_probe": False, "default_trial": False}

DELETE = object()  # a change that removes the key


def Y(text: str) -> str:
    """A value written into the YAML as is (``.inf``, ``.nan``), not as a JSON string; any depth."""
    return f"__YAML__{text}"


def to_yaml(mapping: dict[str, Any], indent: int = 0) -> str:
    """Block YAML for a nested dict; scalars and lists as JSON (which YAML reads the same)."""
    lines = []
    pad = "  " * indent
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            lines.append(f"{pad}{key}:")
            lines.append(to_yaml(value, indent + 1))
        else:
            lines.append(f"{pad}{key}: {json.dumps(value)}")
    return "\n".join(lines) + ("\n" if indent == 0 else "")


def changed_yaml(base: dict[str, Any], changes: dict[str, Any] | None = None) -> str:
    """``base`` as YAML with ``{"dotted.key": value}`` changes (``DELETE`` removes the key)."""
    data = copy.deepcopy(base)
    for dotted, value in (changes or {}).items():
        *parents, last = dotted.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    return re.sub(r'"__YAML__([^"]*)"', r"\1", to_yaml(data))
