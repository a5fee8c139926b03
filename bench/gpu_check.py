"""What one GPU does with finesweep's own training loop, for the day a GPU machine is lent.

Runs ``finesweep train``'s code path (one trial in this process: no Ray, no MLflow, no Optuna) and
measures, in one run of about 8 minutes on a GPU:

- samples/s and peak memory of MiniLM LoRA and of the e5 copy's LoRA, fp32 against bf16;
- 1, 2, 4 and 8 concurrent trial processes sharing the GPU: aggregate samples/s, and the ratio
  to one process;
- time to first step, and one epoch of the quickstart's configuration.

It writes one JSON (the GPU's name, its driver, torch's version, every figure) to
``bench/results/gpu_check.json``, or to ``--output``. ``--dry-run`` runs the same steps on the CPU
with tiny sizes (a test does, in CI), and writes nothing to ``bench/results``.

    FINESWEEP_DATA_DIR=../shared/data python bench/gpu_check.py [--dry-run] [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "jobs" / "quickstart.yaml"
RESULTS = REPO / "bench" / "results" / "gpu_check.json"


def machine() -> dict[str, Any]:
    """The device and the software versions the figures belong to."""
    import platform

    import torch

    info: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "python": platform.python_version(),
                            "torch": torch.__version__, "cpus": os.cpu_count(), "gpu": None}  # fmt: skip
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
        try:
            info["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                            capture_output=True, text=True, timeout=30).stdout.strip()  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            info["driver"] = None
    return info


def overrides(dry_run: bool, base: str | None, precision: str, gpu: bool) -> list[str]:
    """``--set`` values of one measured trial: one epoch, LoRA, the given base and precision."""
    sizes = ["dataset.max_train_samples=60", "dataset.max_eval_samples=20"] if dry_run else \
        ["dataset.max_train_samples=4000", "dataset.max_eval_samples=400"]  # fmt: skip
    chosen = [*sizes, "train.epochs=1", "train.finetuning=lora", f"train.mixed_precision='{precision}'",
              f"scaling.gpus_per_worker={1 if gpu else 0}"]  # fmt: skip
    return chosen + ([f"model.base={base}"] if base else [])


def one_trial(sets: list[str]) -> dict[str, Any]:
    """Train once in this process; the final report's throughput, memory and timing figures."""
    from finesweep.config import load_job
    from finesweep.tuning.commands.train import train_one

    loaded = load_job(QUICKSTART, sets)
    with tempfile.TemporaryDirectory(prefix="finesweep-gpu-check-") as tmp:
        started = time.time()
        result = train_one(loaded, Path(tmp) / "model", tracking=False)
        wall = time.time() - started
    final = result.final
    samples = loaded.job.dataset.max_train_samples or 0
    train_s = float(final.get("train_time_s") or 0.0)
    return {"samples_per_s": samples / train_s if train_s else None, "peak_memory_mb": final.get("peak_memory_mb"),
            "time_to_first_step_s": final.get("time_to_first_step_s"), "epoch_wall_s": wall,
            "val_macro_f1": final.get("val_macro_f1")}  # fmt: skip


def concurrent(processes: int, sets: list[str]) -> dict[str, Any]:
    """``processes`` trials at once, each in its own process on the same device: aggregate samples/s."""
    command = [sys.executable, __file__, "--one", json.dumps(sets)]
    started = time.time()
    children = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for _ in range(processes)]
    outputs = [child.communicate(timeout=1800)[0] for child in children]
    wall = time.time() - started
    failed = [child.returncode for child in children if child.returncode]
    if failed:
        raise RuntimeError(f"{len(failed)} of {processes} concurrent trial process(es) failed")
    rates = [json.loads(out.strip().splitlines()[-1])["samples_per_s"] or 0.0 for out in outputs]
    return {"processes": processes, "aggregate_samples_per_s": sum(rates), "wall_s": wall}


def run(dry_run: bool) -> dict[str, Any]:
    """Every measurement of the check."""
    import torch

    gpu = torch.cuda.is_available() and not dry_run
    precisions = ["no", "bf16"] if gpu else ["no"]  # bf16 autocast is a GPU measurement
    tiny = os.environ.get("FINESWEEP_GPU_CHECK_TINY_MODEL")  # the dry run's base (a test's tiny BERT)
    bases = {"minilm": tiny} if dry_run else {"minilm": None, "e5_copy": "multilingual-e5-small-q4"}
    figures: dict[str, Any] = {"machine": machine(), "dry_run": dry_run, "throughput": [], "concurrency": []}
    for name, base in bases.items():
        for precision in precisions:
            row = one_trial(overrides(dry_run, base, precision, gpu))
            figures["throughput"].append({"base": name, "precision": "fp32" if precision == "no" else precision, **row})
            print(json.dumps(figures["throughput"][-1]), flush=True)
    counts = [1, 2] if dry_run else [1, 2, 4, 8]
    sets = overrides(dry_run, bases["minilm"], precisions[-1], gpu)
    for count in counts:
        figures["concurrency"].append(concurrent(count, sets))
        print(json.dumps(figures["concurrency"][-1]), flush=True)
    single = figures["concurrency"][0]["aggregate_samples_per_s"] or 1.0
    for row in figures["concurrency"]:
        row["ratio_to_one"] = row["aggregate_samples_per_s"] / single
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU (checks the steps, measures nothing)")
    parser.add_argument("--output", type=Path, help=f"where to write the JSON (default {RESULTS.relative_to(REPO)})")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a concurrent child: one trial with these --set values
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.one is not None:
        print(json.dumps(one_trial(json.loads(args.one))))
        return
    figures = run(args.dry_run)
    output = args.output or (None if args.dry_run else RESULTS)
    if output is not None:
        output.write_text(json.dumps(figures, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"wrote {output}")


if __name__ == "__main__":
    from finesweep.settings import Settings, using

    with using(Settings.from_environment(os.environ)):  # a benchmark is an entry point, as the CLI is
        main()
