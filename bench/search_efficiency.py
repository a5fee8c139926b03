"""Search efficiency: TPE + ASHA against the full grid on the same space and data, and random search
at TPE + ASHA's budget, each searcher over several seeds (the grid, which has no seed, once).
Reports the best validation macro-F1 each reached and the trial-epochs (compute) spent in all and
until its best trial ended, per seed and as mean and spread (sample standard deviation) over the
seeds. Writes bench/results/search_efficiency.json.

    python bench/search_efficiency.py [--train-samples 400] [--tpe-samples 6] [--seeds 7 8 9] [--quick]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_table, run_sweep_cli, save, trial_runs, write_job  # noqa: E402

EPOCHS = 3
# A space every strategy can search: finite values, so the grid is the exhaustive reference.
SPACE = {
    "learning_rate": {"distribution": "choice", "values": [3.0e-4, 1.0e-3, 3.0e-3]},
    "lora_r": {"distribution": "choice", "values": [4, 16]},
    "balancing": {"distribution": "choice", "values": ["none", "class_weight"]},
}
QUICK_SPACE = {"learning_rate": {"distribution": "choice", "values": [1.0e-3, 3.0e-3]}}


def _spent(trials: pd.DataFrame) -> tuple[int, int, float]:
    """(trial-epochs in all, trial-epochs until the best trial ended, best val_macro_f1)."""
    ordered = trials.sort_values("end_ms").reset_index(drop=True)
    cumulative = ordered["epoch"].cumsum()
    best = int(ordered["val_macro_f1"].idxmax())
    return int(cumulative.iloc[-1]), int(cumulative.iloc[best]), float(ordered["val_macro_f1"].max())


def _strategy(folder: Path, name: str, space_file: Path, samples: int, search: dict[str, Any], scheduler: dict[str, Any]) -> dict[str, Any]:
    job = write_job(
        folder, name,
        dataset={"name": "emotion_carer", "max_train_samples": samples, "max_eval_samples": 200},
        train={"max_length": 64, "eval_batch_size": 128, "seed": 42, "epochs": EPOCHS, "batch_size": 16},
        search={"space": str(space_file), **search},
        scheduler=scheduler,
    )  # fmt: skip
    print(f"{name}: {search} {scheduler} ...", flush=True)
    wall = run_sweep_cli(job, name)
    trials = trial_runs(f"sqlite:///{folder / 'mlflow.db'}", name)
    total, to_best, best = _spent(trials)
    columns = [c for c in trials.columns if c.startswith("param.") and c.removeprefix("param.") in SPACE]
    per_trial = trials.sort_values("end_ms")[[*columns, "epoch", "val_macro_f1"]].to_dict(orient="records")
    return {"strategy": name, "trials": len(trials), "trial_epochs": total, "trial_epochs_to_best": to_best,
            "best_val_macro_f1": best, "wall_s": wall, "per_trial": per_trial}  # fmt: skip


def main() -> None:
    """The grid once; per seed TPE + ASHA, then random at its budget; print and save the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-samples", type=int, default=400)
    parser.add_argument("--tpe-samples", type=int, default=6)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9], help="searcher seeds (TPE and random)")
    parser.add_argument("--quick", action="store_true", help="a 2-point space on 100 examples: a smoke run")
    args = parser.parse_args()
    space, samples, tpe_samples = (QUICK_SPACE, 100, 2) if args.quick else (SPACE, args.train_samples, args.tpe_samples)
    asha = {"type": "asha", "grace_period": 1, "max_t": EPOCHS, "reduction_factor": 2}

    rows = []
    with tempfile.TemporaryDirectory(prefix="finesweep-bench-") as tmp:
        folder = Path(tmp)
        space_file = folder / "space.yaml"
        space_file.write_text(yaml.safe_dump({"parameters": space}))
        grid = _strategy(folder, "grid", space_file, samples, {"algorithm": "grid"}, {"type": "none"})
        rows.append({**grid, "seed": None})
        for seed in args.seeds:
            tpe = _strategy(folder, f"tpe_asha-{seed}", space_file, samples,
                            {"algorithm": "tpe", "num_samples": tpe_samples, "seed": seed}, asha)  # fmt: skip
            budget = max(1, math.ceil(tpe["trial_epochs"] / EPOCHS))  # whole random trials within TPE + ASHA's compute
            rand = _strategy(folder, f"random-{seed}", space_file, samples,
                             {"algorithm": "random", "num_samples": budget, "seed": seed}, {"type": "none"})  # fmt: skip
            rows += [{**tpe, "strategy": "tpe_asha", "seed": seed}, {**rand, "strategy": "random", "seed": seed}]

    per_trial = {f"{row['strategy']}-{row['seed']}": row.pop("per_trial") for row in rows}
    table = pd.DataFrame(rows)
    table["share_of_grid_compute"] = table["trial_epochs"] / grid["trial_epochs"]
    table["gap_to_grid_best"] = grid["best_val_macro_f1"] - table["best_val_macro_f1"]
    print_table(f"Search efficiency ({samples} training examples, {EPOCHS} epochs per full trial), per seed", table)
    summary = (table[table["strategy"] != "grid"].groupby("strategy")[["gap_to_grid_best", "share_of_grid_compute",
               "best_val_macro_f1"]].agg(["mean", "std"]))  # fmt: skip
    print(f"\nMean and sample standard deviation over seeds {args.seeds}:")
    print(summary.to_string(float_format=lambda v: f"{v:.3f}"))
    flat = {strategy: {f"{metric}_{stat}": float(value) for (metric, stat), value in values.items()}
            for strategy, values in summary.iterrows()}  # fmt: skip
    path = save("search_efficiency", {"train_samples": samples, "space": space, "seeds": args.seeds,
                                       "rows": table.to_dict(orient="records"), "over_seeds": flat,
                                       "per_trial": per_trial})  # which configs won, where ASHA stopped
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
