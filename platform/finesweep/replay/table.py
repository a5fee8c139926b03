"""Replayed trials: learning curves recorded once from real training, reported again one epoch at a
time, so that a sweep of a thousand trials costs minutes instead of days.

This follows the tabular benchmarks of hyperparameter optimisation: HPOBench (Eggensperger et al.,
NeurIPS 2021 Datasets and Benchmarks) and Syne Tune's blackbox repository with its simulator
backend (Salinas et al., AutoML-Conf 2022), which replay recorded learning curves under a
simulated clock. Here the replay runs inside the real stack (the same Tune searchers, schedulers,
budgets, warm starts, callbacks and MLflow record as a trained sweep); only the training is
replaced by a table lookup and a sleep of ``time_scale`` times the recorded epoch's seconds.

A configuration that is not in the table gets the curve of its nearest recorded configuration
(1-nearest neighbour, like the ``KNeighborsRegressor(n_neighbors=1)`` surrogate Syne Tune's
blackbox repository offers): numbers are compared on
their recorded range, in log space when the range spans a factor of 4 or more (learning rates,
ranks, batch sizes), and a differing choice (``balancing: none`` against ``oversample``) counts as
the whole range. :func:`leave_one_out_error` says how far that lookup is from the truth.

Only the standard library is imported here: job validation reads a table with it, and a
replay trial's process stays small.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Columns of a curve table that are not hyperparameters: the configuration's id, the epoch, the
# epoch's seconds (training plus validation, as recorded) and every reported metric.
CONFIG_COLUMN = "config"
EPOCH_COLUMN = "epoch"
SECONDS_COLUMN = "epoch_s"
_METRIC_PREFIXES = ("train_", "val_", "test_")
# metrics every epoch reports besides the split-prefixed ones (latency and size objectives)
_OTHER_METRICS = ("latency_ms_per_text", "latency_ms_per_query", "model_size_mb", "trainable_params")
_LOG_RANGE = 4.0  # a numeric column whose max / min reaches this is compared in log space


@dataclass(frozen=True)
class Curve:
    """One recorded configuration: its hyperparameters and, per epoch (1, 2, ...), its metrics and seconds."""

    config: int
    params: dict[str, Any]
    epochs: tuple[dict[str, float], ...]  # epochs[k] holds epoch k + 1's metrics
    seconds: tuple[float, ...]  # seconds[k]: epoch k + 1's recorded seconds


@dataclass(frozen=True)
class CurveTable:
    """A recorded learning-curve table (see bench/curves/README.md for how one is made)."""

    curves: tuple[Curve, ...]
    param_names: tuple[str, ...]
    metric_names: tuple[str, ...]
    source: str = ""

    @property
    def max_epochs(self) -> int:
        """The fewest epochs any configuration was recorded for: every curve reaches it."""
        return min(len(curve.epochs) for curve in self.curves)

    def best(self, metric: str, mode: str, epoch: int | None = None) -> float:
        """The best value of ``metric`` in the table at ``epoch`` (default: the last common epoch)."""
        at = (epoch or self.max_epochs) - 1
        values = [curve.epochs[at][metric] for curve in self.curves if metric in curve.epochs[at]]
        return max(values) if mode == "max" else min(values)

    def problems(self, searched: list[str], fixed: dict[str, Any], max_epochs: int) -> list[str]:
        """Why a sweep cannot be replayed from this table: a searched hyperparameter it has no column
        for, or more epochs than it recorded."""
        problems = [f"searches {name!r}, which the table did not record (it has: {', '.join(self.param_names)})"
                    for name in searched if name not in self.param_names and name != "epochs"]  # fmt: skip
        if max_epochs > self.max_epochs:
            problems.append(f"trials may run {max_epochs} epochs, the table holds {self.max_epochs}")
        return problems

    def nearest(self, config: dict[str, Any]) -> tuple[Curve, float]:
        """The recorded curve nearest ``config`` and its distance (0.0: recorded as is)."""
        scales = self._scales()
        best, best_distance = self.curves[0], math.inf
        for curve in self.curves:
            distance = _distance(config, curve.params, scales)
            if distance < best_distance:
                best, best_distance = curve, distance
        return best, best_distance

    def _scales(self) -> dict[str, tuple[str, float, float]]:
        return _column_scales(self.curves, self.param_names)


def _column_scales(curves: tuple[Curve, ...], names: tuple[str, ...]) -> dict[str, tuple[str, float, float]]:
    """Per hyperparameter: how it is compared (``log``, ``linear`` or ``choice``) and its range."""
    scales: dict[str, tuple[str, float, float]] = {}
    for name in names:
        values = [curve.params[name] for curve in curves]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            low, high = float(min(values)), float(max(values))
            if low > 0 and high / low >= _LOG_RANGE:
                scales[name] = ("log", math.log(low), math.log(high))
            else:
                scales[name] = ("linear", low, high)
        else:
            scales[name] = ("choice", 0.0, 1.0)
    return scales


def _distance(config: dict[str, Any], recorded: dict[str, Any], scales: dict[str, tuple[str, float, float]]) -> float:
    """Euclidean distance over the hyperparameters both name, each scaled to [0, 1] of its range."""
    total = 0.0
    for name, (kind, low, high) in scales.items():
        if name not in config:
            continue
        mine, theirs = config[name], recorded[name]
        if kind == "choice" or not isinstance(mine, (int, float)) or isinstance(mine, bool):
            total += 0.0 if str(mine) == str(theirs) else 1.0
            continue
        if kind == "log":
            mine, theirs = math.log(max(float(mine), 1e-300)), math.log(float(theirs))
        width = (high - low) or 1.0
        total += ((float(mine) - float(theirs)) / width) ** 2
    return math.sqrt(total)


def leave_one_out_error(table: CurveTable, metric: str) -> dict[str, float]:
    """How well nearest-neighbour lookup predicts a configuration the table does not hold: each
    curve's final ``metric`` predicted from its nearest *other* curve. Returns the mean absolute
    error, the mean distance and the spread (standard deviation) of the metric itself."""
    last = table.max_epochs - 1
    errors, distances = [], []
    for curve in table.curves:
        others = CurveTable(tuple(c for c in table.curves if c is not curve), table.param_names, table.metric_names)
        neighbour, distance = others.nearest(curve.params)
        errors.append(abs(curve.epochs[last][metric] - neighbour.epochs[last][metric]))
        distances.append(distance)
    values = [curve.epochs[last][metric] for curve in table.curves]
    mean = sum(values) / len(values)
    spread = math.sqrt(sum((v - mean) ** 2 for v in values) / max(len(values) - 1, 1))
    return {"mae": sum(errors) / len(errors), "mean_distance": sum(distances) / len(distances), "spread": spread}


# -- reading a table -------------------------------------------------------------------------------


def _number(text: str) -> Any:
    """A cell as an int, a float, or the text itself (a choice such as ``oversample``)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def parse_table(text: str, source: str = "") -> CurveTable:
    """A curve table from its CSV text: one row per configuration and epoch. Raises ValueError
    naming the first problem (a missing column, a gap in a curve, a metric that is not a number)."""
    reader = csv.DictReader(io.StringIO(text))
    columns = list(reader.fieldnames or [])
    missing = [c for c in (CONFIG_COLUMN, EPOCH_COLUMN, SECONDS_COLUMN) if c not in columns]
    if missing:
        raise ValueError(f"has no column {', '.join(missing)} (columns: {', '.join(columns) or 'none'})")
    metrics = tuple(c for c in columns if c.startswith(_METRIC_PREFIXES) or c in _OTHER_METRICS)
    params = tuple(c for c in columns if c not in metrics and c not in (CONFIG_COLUMN, EPOCH_COLUMN, SECONDS_COLUMN))
    rows: dict[int, list[dict[str, str]]] = {}
    for line, row in enumerate(reader, start=2):
        try:
            rows.setdefault(int(row[CONFIG_COLUMN]), []).append(row)
        except (TypeError, ValueError):
            raise ValueError(f"line {line}: {CONFIG_COLUMN} must be a whole number (got {row[CONFIG_COLUMN]!r})") from None
    if not rows:
        raise ValueError("holds no rows")
    curves = tuple(_curve(config, found, params, metrics) for config, found in sorted(rows.items()))
    return CurveTable(curves, params, metrics, source)


def _curve(config: int, rows: list[dict[str, str]], params: tuple[str, ...], metrics: tuple[str, ...]) -> Curve:
    rows = sorted(rows, key=lambda row: int(row[EPOCH_COLUMN]))
    if [int(row[EPOCH_COLUMN]) for row in rows] != list(range(1, len(rows) + 1)):
        raise ValueError(f"configuration {config}: epochs must run 1, 2, ... without gaps")
    epochs = []
    for row in rows:
        try:
            epochs.append({m: float(row[m]) for m in metrics if row[m] not in ("", None)})
        except ValueError:
            raise ValueError(f"configuration {config}, epoch {row[EPOCH_COLUMN]}: a metric is not a number") from None
    return Curve(config, {p: _number(rows[0][p]) for p in params}, tuple(epochs),
                 tuple(float(row[SECONDS_COLUMN]) for row in rows))  # fmt: skip


def read_table(path: Path) -> CurveTable:
    """The curve table at ``path`` (CSV)."""
    return parse_table(path.read_text(encoding="utf-8"), str(path))
