"""How a trial's reported keys become MLflow metric names: Tune's bookkeeping dropped, the trial's
own bookkeeping (``final``, ``restarts``, ...) kept as tags, and run measurements (timings,
memory, the epoch) under MLflow's ``system/`` prefix, which the UI keeps in its own chart section,
so that the model's metrics lead the chart view. Every writer names metrics through
:func:`mlflow_name`; every reader finds them with :func:`recorded_metric`."""

from __future__ import annotations

import math
from typing import Any

from finesweep.tracking.schema import BOOKKEEPING_TAGS, TEXT_TAGS

# Tune's own bookkeeping in every result; not metrics of the model.
TUNE_KEYS = {
    "time_this_iter_s", "time_total_s", "timestamp", "training_iteration", "pid", "iterations_since_restore",
    "time_since_restore", "done", "date", "hostname", "node_ip", "trial_id", "experiment_tag", "config",
    "checkpoint_dir_name", "should_checkpoint", "checkpoint_path",
}  # fmt: skip

# What a trial reports about itself rather than about its model: whether this was its last report,
# whether early stopping ended it, how often it restarted from a checkpoint, and how many trials its
# process had run. Recorded as tags (``finesweep.<key>``, schema.BOOKKEEPING_TAGS), so MLflow's
# charts show only measurements.
BOOKKEEPING = tuple(BOOKKEEPING_TAGS)

SYSTEM_PREFIX = "system/"
SYSTEM_KEYS = {"epoch", "lr", "eval_time_s", "test_eval_time_s", "time_to_first_step_s", "train_time_s", "peak_memory_mb",
               "resident_memory_mb", "sweep_wall_time_s", "max_concurrent_trials",
               # the parent's counts of its trials: bookkeeping, not figures to chart against the objective
               "n_trials", "n_completed", "n_pruned", "n_failed", "n_infeasible", "pareto_front_size"}  # fmt: skip


def mlflow_name(key: str) -> str:
    """The MLflow metric name of a reported key: ``system/<key>`` for a run measurement."""
    is_system = key in SYSTEM_KEYS or key.startswith(("startup_", "mean_", "median_"))
    return SYSTEM_PREFIX + key if is_system and not key.startswith(SYSTEM_PREFIX) else key


def recorded_metric(metrics: dict[str, float], key: str) -> float | None:
    """A metric read back by its reported key: under its MLflow name (``system/<key>``), else as
    runs recorded before that logged it."""
    return metrics.get(mlflow_name(key), metrics.get(key))


def model_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The numeric, finite metrics a worker reported, without Tune's or the trial's bookkeeping."""
    return {
        key: float(value)
        for key, value in result.items()
        if key not in TUNE_KEYS
        and key not in BOOKKEEPING
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    }


def bookkeeping_tags(result: dict[str, Any]) -> dict[str, str]:
    """The bookkeeping values of a result as ``finesweep.<key>`` tags (integers as text), and its text
    values (the precision) as they are."""
    tags = {BOOKKEEPING_TAGS[key]: str(int(result[key])) for key in BOOKKEEPING if isinstance(result.get(key), (int, float))}
    tags.update({tag: result[key] for key, tag in TEXT_TAGS.items() if isinstance(result.get(key), str)})
    return tags


def bookkeeping_from_tags(tags: dict[str, str]) -> dict[str, float]:
    """The bookkeeping values read back from a run's tags, as a result would carry them."""
    out: dict[str, float] = {}
    for key in BOOKKEEPING:
        try:
            out[key] = float(tags[BOOKKEEPING_TAGS[key]])
        except (KeyError, ValueError):
            continue
    return out
