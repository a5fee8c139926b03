"""The replay trial: a Tune trial that trains nothing and reports, one epoch at a time, the
recorded learning curve nearest its configuration (see :mod:`finesweep.replay.table`), sleeping
``time_scale`` times each recorded epoch's seconds. Nothing here imports torch, pandas or numpy:
a replay trial's process stays small, so that many of them fit one machine."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from finesweep.replay.table import Curve, CurveTable, leave_one_out_error, parse_table, read_table

__all__ = ["Replay", "leave_one_out_error", "parse_table", "read_table", "replayed_metrics", "run_replay_trial"]


# -- the trial -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Replay:
    """What a replay trial needs: the table and how fast simulated time runs."""

    table: CurveTable
    time_scale: float  # wall seconds slept per recorded second: 0 replays at once


def replayed_metrics(curve: Curve, epoch: int, distance: float, recorded_s: float, last: bool) -> dict[str, Any]:
    """What a replay trial reports for ``epoch``: the recorded figures, its timings, and where it came
    from. Test-split figures only on the last report, as a trained trial's."""
    figures = {k: v for k, v in curve.epochs[epoch - 1].items() if last or not k.startswith("test_")}
    return {"epoch": epoch, **figures, "train_time_s": recorded_s, "eval_time_s": 0.0,
            "replay_config": float(curve.config), "replay_distance": distance}  # fmt: skip


def run_replay_trial(config: dict[str, Any], spec: Any) -> None:
    """A Tune trial that replays the nearest recorded curve: one report per epoch, after sleeping
    the epoch's recorded seconds times ``time_scale``; the sweep's budget is charged as a trained
    trial's would be."""
    import ray.tune

    from finesweep.training import FINAL_KEY

    replay: Replay = spec.replay
    params = spec.params(config)
    epochs = int(params.get("epochs", replay.table.max_epochs))
    curve, distance = replay.table.nearest(params)
    recorded = 0.0
    for epoch in range(1, epochs + 1):
        seconds = curve.seconds[epoch - 1]
        recorded += seconds
        if replay.time_scale > 0:
            time.sleep(seconds * replay.time_scale)
        spent = bool(spec.budget.after_epoch()) if spec.budget is not None else False
        last = epoch == epochs or spent
        metrics = replayed_metrics(curve, epoch, distance, recorded, last)
        metrics["ended_by_budget"] = float(spent)
        metrics[FINAL_KEY] = float(last)
        ray.tune.report(metrics)
        if spent:
            return
