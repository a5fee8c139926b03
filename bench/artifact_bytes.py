"""MLflow artifact bytes per trial, against the trial's model folder: what a finished sweep keeps in
MLflow now, and what it kept before resume state stayed in ``storage_path`` only.

For every completed trial of a sweep in a local store (SQLite with a local artifact root):

- ``mlflow_bytes``: the trial run's artifacts plus its logged model's, as MLflow holds them now;
- ``model_bytes``: the served model folder (adapter or weights, tokenizer, model card) inside the
  logged model;
- ``resume_bytes``: the resume state of the trial's final checkpoint in ``storage_path``
  (optimizer state, trainable weights, progress, manifest), which earlier versions also uploaded;
- ``before_bytes``: ``mlflow_bytes + resume_bytes``, what the same trial held in MLflow then
  (the model was logged once then too).

Writes ``bench/results/artifact_bytes.json``.

    python bench/artifact_bytes.py --tracking-uri sqlite:///mlflow.db [--sweep NAME]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from statistics import mean
from typing import Any
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine  # noqa: E402


def folder_bytes(path: Path) -> int:
    """Bytes of every file under ``path`` (0 when it does not exist)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def local(uri: str) -> Path:
    """A local artifact URI (``file:///...`` or a plain path) as a path."""
    return Path(urlparse(uri).path if uri.startswith("file:") else uri)


def trial_figures(client: Any, run: Any, results: str) -> dict[str, Any]:
    """The byte counts of one completed trial (see the module docstring)."""
    from finesweep.storage import latest_complete_checkpoint
    from finesweep.tracking.models import resume_state_names
    from finesweep.tracking.schema import TAG_MODEL_URI, TAG_TRIAL

    run_bytes = folder_bytes(local(run.info.artifact_uri))
    model_uri = run.data.tags.get(TAG_MODEL_URI, "")
    model_root = local(client.get_logged_model(model_uri.removeprefix("models:/")).artifact_location) if model_uri else None
    logged_bytes = folder_bytes(model_root) if model_root else 0
    cards = sorted(model_root.rglob("finesweep_model.json")) if model_root else []
    checkpoint = latest_complete_checkpoint(results, run.data.tags[TAG_TRIAL])
    resume = sum((local(checkpoint) / name).stat().st_size for name in resume_state_names()
                 if checkpoint and (local(checkpoint) / name).is_file())  # fmt: skip
    after = run_bytes + logged_bytes
    return {"trial": run.data.tags[TAG_TRIAL], "mlflow_bytes": after, "model_bytes": folder_bytes(cards[0].parent) if cards else 0,
            "resume_bytes": resume, "before_bytes": after + resume}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", required=True, help="sqlite:///path.db with a local artifact root")
    parser.add_argument("--sweep", help="default: the newest sweep in the store")
    args = parser.parse_args()
    from mlflow.tracking import MlflowClient

    from finesweep.tracking.leaderboard import sweep_parent, sweeps_table
    from finesweep.tracking.listing import sweep_trials
    from finesweep.tracking.schema import TAG_STATUS

    client = MlflowClient(args.tracking_uri)
    sweep = args.sweep or sweeps_table(args.tracking_uri).iloc[0]["sweep"]
    parent = sweep_parent(client, sweep)
    results = parent.data.tags["finesweep.storage_path"]
    trials = [r for r in sweep_trials(client, parent.info.experiment_id, sweep) if r.data.tags.get(TAG_STATUS) == "completed"]
    rows = [trial_figures(client, run, results) for run in trials]
    for row in rows:
        print(f"trial {row['trial']}: MLflow {row['mlflow_bytes'] / 2**20:.2f} MiB (model folder {row['model_bytes'] / 2**20:.2f} MiB); "
              f"with the resume state, as before: {row['before_bytes'] / 2**20:.2f} MiB")  # fmt: skip
    summary = {key: mean(r[key] for r in rows) for key in ("mlflow_bytes", "model_bytes", "resume_bytes", "before_bytes")} if rows else {}
    if summary:
        print(f"mean per completed trial: now {summary['mlflow_bytes'] / 2**20:.2f} MiB = "
              f"{summary['mlflow_bytes'] / summary['model_bytes']:.2f} x the model folder; before "
              f"{summary['before_bytes'] / 2**20:.2f} MiB = {summary['before_bytes'] / summary['model_bytes']:.2f} x")  # fmt: skip
    record = {"date": machine()["date"], "machine": machine(), "sweep": sweep, "task": parent.data.tags.get("finesweep.task"),
              "completed_trials": len(rows), "mean_per_trial": summary, "trials": rows}  # fmt: skip
    path = RESULTS / "artifact_bytes.json"
    path.write_text(json.dumps(record, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
