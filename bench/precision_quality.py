"""Does bf16 autocast cost quality? float32 against bf16, side by side, over several seeds.

For each seed, one sweep runs the same configuration twice at once, once per precision (a grid
over ``train.mixed_precision``): all-MiniLM-L6-v2 with LoRA on CARER. It reports each trial's
validation and test macro-F1, the bf16 - float32 difference per seed, its mean and spread, and
the spread of float32 itself across seeds (what chance alone moves). Writes
bench/results/precision_quality.json.

    python bench/precision_quality.py [--seeds 1,2,3] [--train-samples 2000] [--epochs 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_table, run_sweep_cli, save, trial_runs, write_job  # noqa: E402

METRICS = ("val_macro_f1", "test_macro_f1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--train-samples", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        rows += _one_seed(seed, args.train_samples, args.epochs)
    frame = pd.DataFrame(rows)
    print_table(f"float32 and bf16 trials, MiniLM + LoRA on CARER ({args.train_samples} texts x {args.epochs} epochs)",
                frame)  # fmt: skip
    summary = {}
    for metric in METRICS:
        wide = frame.pivot(index="seed", columns="precision", values=metric)
        differences = (wide["bf16"] - wide["no"]).tolist()
        summary[metric] = {
            "bf16_minus_fp32_mean": statistics.fmean(differences),
            "bf16_minus_fp32_sd": statistics.stdev(differences) if len(differences) > 1 else 0.0,
            "fp32_sd_over_seeds": statistics.stdev(wide["no"]) if len(wide) > 1 else 0.0,
            "per_seed": dict(zip(map(str, wide.index), differences)),
        }
        print(f"{metric}: bf16 - float32 = {summary[metric]['bf16_minus_fp32_mean']:+.4f} "
              f"(sd {summary[metric]['bf16_minus_fp32_sd']:.4f} over {len(differences)} seeds); "
              f"float32's own sd over seeds {summary[metric]['fp32_sd_over_seeds']:.4f}")  # fmt: skip
    speed = frame.pivot(index="seed", columns="precision", values="train_time_s")
    summary["train_time_bf16_over_fp32"] = statistics.fmean((speed["bf16"] / speed["no"]).tolist())
    path = save("precision_quality", {"task": "text_classification", "dataset": "emotion_carer",
                                      "train_examples": args.train_samples, "epochs": args.epochs,
                                      "rows": rows, "summary": summary})  # fmt: skip
    print(f"\nwrote {path}")


def _one_seed(seed: int, samples: int, epochs: int) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="finesweep-precision-") as tmp:
        folder = Path(tmp)
        job = write_job(
            folder, "precision",
            dataset={"name": "emotion_carer", "max_train_samples": samples, "max_eval_samples": 500},
            train={"max_length": 64, "eval_batch_size": 128, "seed": seed, "epochs": epochs, "batch_size": 16,
                   "learning_rate": 1e-3, "lora_r": 8, "lora_alpha": 16},
            search={"algorithm": "grid", "space": None,
                    "overrides": {"mixed_precision": {"distribution": "grid", "values": ["no", "bf16"]}}},
            baselines={"frozen_probe": False, "default_trial": False},
        )  # fmt: skip
        print(f"seed {seed}: float32 and bf16 trials side by side ...", flush=True)
        run_sweep_cli(job, "p")
        trials = trial_runs(f"sqlite:///{folder / 'mlflow.db'}", "p")
    return [{"seed": seed, "precision": str(t["param.mixed_precision"]), **{m: float(t[m]) for m in METRICS},
             "train_time_s": float(t["train_time_s"])} for _, t in trials.iterrows()]  # fmt: skip


if __name__ == "__main__":
    from finesweep.settings import Settings, using

    with using(Settings.from_environment(os.environ)):  # a benchmark is an entry point, as the CLI is
        main()
