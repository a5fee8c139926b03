"""What a sweep's runs recorded about its objective and its trials' values, read back typed."""

from __future__ import annotations

import json
from typing import Any

from finesweep.objective import MetricGoal, Objective
from finesweep.tracking.schema import TAG_CONFIG, TAG_METRIC, TAG_MODE, TAG_OBJECTIVE


def recorded_objective(tags: dict[str, str]) -> Objective:
    """A sweep's objective from its parent run's tags (its ``finesweep.metric``/``mode`` tags for
    sweeps recorded before the objective was kept as JSON)."""
    if TAG_OBJECTIVE in tags:
        return Objective.from_json(tags[TAG_OBJECTIVE])
    mode = "min" if tags.get(TAG_MODE) == "min" else "max"
    return Objective((MetricGoal(tags.get(TAG_METRIC, "val_macro_f1"), mode),))


def trial_config(run: Any, space: dict[str, Any]) -> dict[str, Any]:
    """A trial's sampled values: the JSON its run recorded (``finesweep.config``), typed; for runs
    recorded before that, its text params read with ``space``'s types (those that fit)."""
    from finesweep.config.space import from_text

    text = run.data.tags.get(TAG_CONFIG)
    if text:
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
    config = {}
    for name, spec in space.items():
        if name in run.data.params:
            try:
                config[name] = from_text(spec, run.data.params[name])
            except ValueError:
                continue
    return config
