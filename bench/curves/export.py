"""Export a recorded sweep's learning curves from MLflow into a curve table (CSV) for replay.

    python bench/curves/export.py --tracking-uri sqlite:///curves/mlflow.db \
        --sweep curves-carer-minilm --output bench/curves/carer_minilm.csv

One row per completed trial and epoch: ``config`` (0, 1, ... in the order the trials started), the
trial's searched hyperparameters, ``epoch``, ``epoch_s`` (the epoch's training plus validation
seconds, as the trial measured them), the loss and validation figures of that epoch, and the
test-split figures on the last epoch's row. Trials that did not complete every epoch are left out.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from mlflow.tracking import MlflowClient

KEPT = ("train_loss", "val_loss", "val_accuracy", "val_macro_f1", "test_loss", "test_accuracy", "test_macro_f1",
        "latency_ms_per_text", "model_size_mb")
TRAIN_S, EVAL_S = "system/train_time_s", "system/eval_time_s"  # cumulative training, per-epoch validation


def trial_runs(client: MlflowClient, sweep: str) -> list:
    """The sweep's completed trial runs, oldest first."""
    parents = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], f"tags.`finesweep.sweep` = '{sweep}' and tags.`finesweep.role` = 'sweep'"
    )
    if not parents:
        raise SystemExit(f"no sweep named {sweep!r}")
    parent = parents[0]
    runs = client.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'",
                              max_results=50_000, order_by=["attributes.start_time ASC"])  # fmt: skip
    return [run for run in runs if run.data.tags.get("finesweep.status") == "completed"]


def history(client: MlflowClient, run_id: str, key: str) -> dict[int, float]:
    """``key``'s value per epoch (MLflow's step is the epoch)."""
    return {m.step: m.value for m in client.get_metric_history(run_id, key)}


def curve_rows(client: MlflowClient, run, config: int, epochs: int) -> list[dict]:
    """The rows of one trial, or none when it did not run ``epochs`` epochs."""
    sampled = json.loads(run.data.tags.get("finesweep.config", "{}"))
    series = {key: history(client, run.info.run_id, key) for key in (*KEPT, TRAIN_S, EVAL_S)}
    if sorted(series["val_macro_f1"]) != list(range(1, epochs + 1)):
        return []
    rows, trained = [], 0.0
    for epoch in range(1, epochs + 1):
        spent = series[TRAIN_S][epoch] - trained  # the cumulative training time's growth over this epoch
        trained = series[TRAIN_S][epoch]
        row = {"config": config, **sampled, "epoch": epoch, "epoch_s": round(spent + series[EVAL_S][epoch], 3)}
        for key in KEPT:
            value = series[key].get(epoch)
            row[key] = "" if value is None or (key.startswith("test_") and epoch != epochs) else round(value, 6)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--sweep", required=True)
    parser.add_argument("--epochs", type=int, default=4, help="the epochs every exported trial ran")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    client = MlflowClient(args.tracking_uri)
    rows: list[dict] = []
    for run in trial_runs(client, args.sweep):
        found = curve_rows(client, run, len({r["config"] for r in rows}), args.epochs)
        rows.extend(found)
    if not rows:
        raise SystemExit("no completed trial to export")
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with args.output.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    print(f"{args.output}: {len({r['config'] for r in rows})} configurations x {args.epochs} epochs")


if __name__ == "__main__":
    main()
