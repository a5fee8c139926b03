"""Training throughput: finesweep's training loop against the Hugging Face Trainer.

Same model (all-MiniLM-L6-v2 + LoRA r=8 on query/value), data (CARER), batch size, max length,
torch threads and precision (``--precisions no,bf16``: float32, then bf16 autocast on both sides). finesweep's side is one real trial (Ray Train worker, checkpoints, MLflow); its
samples per second count only the training epochs (``train_time_s``), as the Trainer's figure
counts only ``trainer.train()``. Writes bench/results/throughput.json.

    python bench/throughput.py [--train-samples 1000] [--epochs 2] [--threads 2] [--precisions no,bf16] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, print_table, run_sweep_cli, save, trial_runs, write_job  # noqa: E402


def main() -> None:
    """For each precision: one finesweep trial and one Trainer run on the same settings; print and
    save the figures side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-samples", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="torch threads on both sides")
    parser.add_argument("--precisions", default="no,bf16", help="train.mixed_precision values, comma-separated")
    parser.add_argument("--quick", action="store_true", help="200 examples, 1 epoch: a smoke run")
    args = parser.parse_args()
    samples, epochs = (200, 1) if args.quick else (args.train_samples, args.epochs)
    rows, counts = [], (0, 0)
    for precision in args.precisions.split(","):
        ours, hf, counts = _one_precision(precision, samples, epochs, args)
        rows.append({"precision": precision, "finesweep": ours, "hf_trainer": hf,
                     "finesweep_over_trainer": ours["train_samples_per_s"] / hf["train_samples_per_s"]})  # fmt: skip
    fp32 = next((row for row in rows if row["precision"] == "no"), None)
    for row in rows:
        if fp32 is not None:  # the speed-up of each precision over float32, loop by loop
            row["finesweep_over_fp32"] = row["finesweep"]["train_samples_per_s"] / fp32["finesweep"]["train_samples_per_s"]
            row["trainer_over_fp32"] = row["hf_trainer"]["train_samples_per_s"] / fp32["hf_trainer"]["train_samples_per_s"]
    table = pd.DataFrame([{"precision": r["precision"], "loop": loop, **{k: r[key][k] for k in
                           ("train_samples_per_s", "eval_samples_per_s", "peak_memory_mb")}}
                          for r in rows for loop, key in (("finesweep (trial)", "finesweep"),
                                                          ("Hugging Face Trainer", "hf_trainer"))])  # fmt: skip
    ratios = ", ".join(f"{r['precision']}: {r['finesweep_over_trainer']:.2f}" for r in rows)
    print_table(f"Training throughput ({counts[0]} examples x {epochs} epochs, batch {args.batch_size}, max_length 64, "
                f"{args.threads} threads); finesweep / Trainer at the same precision: {ratios}", table)  # fmt: skip
    path = save("throughput", {"train_examples": counts[0], "epochs": epochs, "threads": args.threads,
                               "target_over_trainer": 2.0, "rows": rows})  # fmt: skip
    print(f"\nwrote {path}")


def _one_precision(precision: str, samples: int, epochs: int, args: argparse.Namespace) -> tuple[dict, dict, tuple]:
    """One finesweep trial and one Trainer run with ``train.mixed_precision: precision``."""
    with tempfile.TemporaryDirectory(prefix="finesweep-bench-") as tmp:
        folder = Path(tmp)
        job = write_job(
            folder, "throughput",
            dataset={"name": "emotion_carer", "max_train_samples": samples, "max_eval_samples": 300},
            train={"max_length": 64, "eval_batch_size": 128, "seed": 42, "epochs": epochs,
                   "batch_size": args.batch_size, "learning_rate": 1e-3, "lora_r": 8, "lora_alpha": 16,
                   "mixed_precision": precision},
            search={"num_samples": 1, "space": None},
            # threads = round(cpus_per_worker); the trial's driver actor needs 0.1 CPU beside it
            scaling={"workers_per_trial": 1, "cpus_per_worker": args.threads - 0.1, "trial_driver_cpus": 0.1},
        )  # fmt: skip
        print(f"finesweep ({precision}): one trial, {samples} examples x {epochs} epochs, {args.threads} threads ...",
              flush=True)  # fmt: skip
        run_sweep_cli(job, "tp")
        trial = trial_runs(f"sqlite:///{folder / 'mlflow.db'}", "tp").iloc[0]
        print(f"Hugging Face Trainer ({precision}): the same ...", flush=True)
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "hf_trainer.py"), str(job), str(args.threads), str(folder / "hf.json")],
            check=True, cwd=folder,
        )  # fmt: skip
        hf = json.loads((folder / "hf.json").read_text())
        from finesweep.config import load_job
        from finesweep.tasks import get_task

        loaded = load_job(job)
        data = get_task(loaded.job.task).prepare_data(loaded)
        counts = (len(data.splits["train"]["label"]), len(data.splits["validation"]["label"]))
    ours = {
        "train_samples_per_s": counts[0] * trial["epoch"] / trial["train_time_s"],
        "eval_samples_per_s": counts[1] / trial["eval_time_s"],
        "peak_memory_mb": trial.get("peak_memory_mb", float("nan")),
        "val_loss": trial.get("val_loss", float("nan")),
    }
    return ours, hf, counts


if __name__ == "__main__":
    from finesweep.settings import Settings, using

    with using(Settings.from_environment(os.environ)):  # a benchmark is an entry point, as the CLI is
        main()
