"""What a sweep's runs recorded about its objective and its trials' values, read back typed."""

from __future__ import annotations

import json
from typing import Any

from finesweep.errors import TrackingError
from finesweep.objective import MetricGoal, Objective
from finesweep.tracking.schema import TAG_CONFIG, TAG_EXTENSIONS, TAG_METRIC, TAG_MODE, TAG_OBJECTIVE

# a garbled tag's value is quoted up to this many characters: enough to recognise it, one line
_QUOTED_CHARS = 120


def garbled_tag(run_id: str | None, tag: str, value: str, expected: str) -> TrackingError:
    """The error for a tag of run ``run_id`` whose ``value`` is not what finesweep writes there."""
    quoted = repr(value if len(value) <= _QUOTED_CHARS else value[:_QUOTED_CHARS] + "...")
    run = f"run {run_id}" if run_id else "the sweep's parent run"
    return TrackingError(f"{run}: tag {tag} is {quoted}, not {expected}; the record was edited outside "
                         f"finesweep: set the tag back (MLflow UI, the run's Tags) or delete it")


def recorded_objective(tags: dict[str, str], run_id: str | None = None) -> Objective:
    """A sweep's objective from its parent run's tags (its ``finesweep.metric``/``mode`` tags for
    sweeps recorded before the objective was kept as JSON). A tag finesweep cannot read is a
    TrackingError naming ``run_id``, the tag and its value."""
    if TAG_OBJECTIVE in tags:
        try:
            return Objective.from_json(tags[TAG_OBJECTIVE])
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # bad JSON, shape or mode
            expected = f'an objective such as {{"goals":[["val_macro_f1","max"]],"constraints":[]}} ({exc})'
            raise garbled_tag(run_id, TAG_OBJECTIVE, tags[TAG_OBJECTIVE], expected) from None
    mode = "min" if tags.get(TAG_MODE) == "min" else "max"
    return Objective((MetricGoal(tags.get(TAG_METRIC, "val_macro_f1"), mode),))


def recorded_extensions(tags: dict[str, str], run_id: str | None = None) -> int:
    """How many times ``--resume --more`` extended the sweep (its parent's ``finesweep.extensions``
    tag; 0 when absent); a tag that is not a whole number >= 0 is a TrackingError naming the run."""
    text = tags.get(TAG_EXTENSIONS, "0")
    if not (text.isascii() and text.isdigit()):
        raise garbled_tag(run_id, TAG_EXTENSIONS, text, "a whole number of extensions such as 0 or 2")
    return int(text)


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
