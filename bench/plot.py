"""One figure of the latest benchmark results: bench/results/performance.png (matplotlib).

    python bench/plot.py

Reads whichever of bench/results/{overhead,throughput,search_efficiency,scaling}.json exist.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS  # noqa: E402


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _overhead(ax, data: dict[str, Any]) -> None:
    phases = list(data["finesweep_phases"])
    runners = {"finesweep": data["finesweep_phases"], "plain Optuna": data["plain_phases"]}
    bottom = {name: 0.0 for name in runners}
    for phase in phases:
        values = [runners[name][phase] for name in runners]
        ax.bar(list(runners), values, bottom=[bottom[n] for n in runners], label=phase)
        for name, value in zip(runners, values):
            bottom[name] += value
    ax.set_title(f"Per-trial seconds by phase (wall ratio {data['ratio']:.2f}x)")
    ax.set_ylabel("seconds per trial")
    ax.legend(fontsize=6, loc="upper right")


def _throughput(ax, data: dict[str, Any]) -> None:
    loops = {"finesweep": data["finesweep"], "HF Trainer": data["hf_trainer"]}
    width = 0.38
    for offset, (name, values) in zip((-width / 2, width / 2), loops.items()):
        ax.bar([i + offset for i in range(2)], [values["train_samples_per_s"], values["eval_samples_per_s"]], width, label=name)
    ax.set_xticks(range(2), ["training", "evaluation"])
    ax.set_ylabel("samples per second")
    ax.set_title(f"Throughput, {data['threads']} threads, same model and data")
    ax.legend(fontsize=7)


def _search(ax, data: dict[str, Any]) -> None:
    rows = [row for run in data.get("modes", {}).values() for row in run["rows"] if row.get("mode") != "multi"]
    for row in rows:
        ax.scatter(row["trial_epochs"], row["best_val_macro_f1"], s=60)
        ax.annotate(row["strategy"], (row["trial_epochs"], row["best_val_macro_f1"]), fontsize=8,
                    xytext=(4, 4), textcoords="offset points")  # fmt: skip
    ax.set_xlabel("trial-epochs spent (compute)")
    ax.set_ylabel("best validation macro-F1")
    ax.set_title("Search efficiency")


def _scaling(ax, data: dict[str, Any]) -> None:
    rows = data["simulated"]
    ax.plot([r["concurrency"] for r in rows], [r["trials_per_hour"] for r in rows], marker="o")
    ax.set_xlabel("concurrent trials (simulated 4-node cluster)")
    ax.set_ylabel("near-empty trials per hour")
    ax.set_title("Scheduling throughput")


def main() -> None:
    """Draw the panels whose results exist; write bench/results/performance.png."""
    panels = [(_overhead, "overhead"), (_throughput, "throughput"), (_search, "search_efficiency"), (_scaling, "scaling")]
    figure, axes = plt.subplots(2, 2, figsize=(11, 8))
    machine = None
    for ax, (draw, name) in zip(axes.flat, panels):
        data = _load(name)
        if data is None:
            ax.set_axis_off()
            ax.set_title(f"{name}: not run")
            continue
        machine = data["machine"]
        draw(ax, data)
    if machine:
        figure.suptitle(f"finesweep benchmarks: {machine['cpus']} CPU cores, GPU {machine['gpu'] or 'none'}, "
                        f"torch {machine['torch']}, {machine['date']}")  # fmt: skip
    figure.tight_layout()
    path = RESULTS / "performance.png"
    figure.savefig(path, dpi=100)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
