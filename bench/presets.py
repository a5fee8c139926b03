"""Preset quality: every shipped preset (jobs/*.yaml), or those named, swept through the CLI, at its
own budget (``--own-budget``) or at a reduced one given by the same ``--set`` overrides a user
would type. Prints each sweep's best validation value, the best trial's test value of the same
metric, the wall time, and a baseline: the one logged on the parent run (the untuned base model for
contrastive embedding, BM25 for the sparse encoder), the majority class for single-label
classification, or, for multi-label classification, always answering the most frequent label.
Writes bench/results/presets.json (or presets_own.json with --own-budget).

    FINESWEEP_DATA_DIR=../shared/data .venv/bin/python bench/presets.py [PRESET ...] [--samples 2] [--train 400] [--quick]
    FINESWEEP_DATA_DIR=../shared/data .venv/bin/python bench/presets.py nsmc_sentiment --own-budget

Figures on a 2-core CPU are the base models' and budgets' as stated, not those of a GPU cluster.
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

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, ROOT, machine, print_table, save  # noqa: E402

from finesweep.config import load_job  # noqa: E402

RETRIEVAL_BASELINES = {"contrastive_embedding": "untuned", "sparse_encoder": "bm25"}  # baseline_<name>_* tags


def _overrides(folder: Path, args: argparse.Namespace, preset_max_length: int) -> list[str]:
    """The reduced budget (none with --own-budget), and a store and results folder of the benchmark's own."""
    reduced = {
        "search.num_samples": args.samples,
        "dataset.max_train_samples": args.train,
        "dataset.max_eval_samples": args.eval,
        "train.max_length": min(preset_max_length, args.max_length),
    }
    values = {
        **({} if args.own_budget else reduced),
        "tracking.uri": f"sqlite:///{folder / 'mlflow.db'}",
        "tracking.experiment": "bench",
        "storage_path": str(folder / "results"),
        "verbose": 0,
    }
    return [arg for key, value in values.items() for arg in ("--set", f"{key}={value}")]


def _run_preset(job: Path, folder: Path, args: argparse.Namespace, preset_max_length: int) -> float:
    """``finesweep sweep`` on one preset; its wall time in seconds."""
    command = [sys.executable, "-m", "finesweep", "sweep", str(job), "--name", job.stem,
               *_overrides(folder, args, preset_max_length)]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{job.stem} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def _figures(folder: Path, job: Path, task: str, metric: str) -> tuple[dict[str, Any], dict[str, float]]:
    """Best validation value, the best trial's test value and the parent's baselines, from MLflow;
    and the best trial's per-label test F1 (classification; empty for the encoders)."""
    from mlflow.tracking import MlflowClient

    from finesweep.tracking.baselines import recorded_figures

    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("bench")
    sweep_filter = f"tags.`finesweep.sweep` = '{job.stem}'"
    parent = client.search_runs([experiment.experiment_id], f"{sweep_filter} and tags.`finesweep.role` = 'sweep'")[0]
    trials = client.search_runs([experiment.experiment_id], f"{sweep_filter} and tags.`finesweep.role` = 'trial'")
    best = next(t for t in trials if t.data.tags.get("finesweep.trial_id") == parent.data.tags["finesweep.best_trial_id"])
    test_metric = "test_" + metric.removeprefix("val_")
    prefix = RETRIEVAL_BASELINES.get(task)
    recorded = recorded_figures(parent)
    row = {
        "preset": job.stem,
        "task": task,
        "metric": metric,
        "best_val": parent.data.metrics.get(f"best_{metric}"),
        "best_trial_test": best.data.metrics.get(test_metric),
        "baseline": {"untuned": "untuned base", "bm25": "BM25"}.get(prefix or "", "-"),
        "baseline_val": recorded.get(f"baseline_{prefix}_{metric}") if prefix else None,
        "baseline_test": recorded.get(f"baseline_{prefix}_{test_metric}") if prefix else None,
        "eval_corpus": _eval_corpus(client, parent),
        # sparse encoder only: the share of activated term weight on the target script's pieces
        "best_trial_test_script_share": best.data.metrics.get("test_script_term_share"),
        # classification only: logistic regression on the frozen base model's embeddings, same split
        "probe_test": None if prefix else recorded.get(f"baseline_probe_{test_metric}"),
    }
    per_label = {key.removeprefix("test_f1_"): value for key, value in sorted(best.data.metrics.items())
                 if key.startswith("test_f1_")}  # fmt: skip
    return row, per_label


def _eval_corpus(client: Any, parent: Any) -> int | None:
    """Passages each retrieval query ranked (the parent's data summary), None for classification."""
    import tempfile as _tempfile

    with _tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(parent.info.run_id, "data_summary.json", tmp)
        except Exception:  # noqa: BLE001 - no summary logged: nothing to report
            return None
        return json.loads(Path(path).read_text()).get("eval_corpus")


def frequency_baseline(loaded: Any, args: argparse.Namespace, metric: str) -> tuple[str, float] | None:
    """What the classification figures should be read against, on the same test split: always
    answering the most frequent training label (single-label: the majority class; multi-label:
    the most frequent label alone), scored by the preset's own metric (accuracy, macro- or micro-F1).

    A figure near it means the sweep learned little at this budget.
    """
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.preprocessing import MultiLabelBinarizer

    from finesweep.data.prepare import prepare_dataset

    if loaded.job.task != "text_classification":
        return None
    dataset = loaded.job.dataset
    if not args.own_budget:
        dataset = dataset.model_copy(update={"max_train_samples": args.train, "max_eval_samples": args.eval})
    data = prepare_dataset(dataset, str)
    average = "micro" if "micro" in metric else "macro"
    truth, labels = data.splits["test"]["label"], range(len(data.label_names))
    if not data.multi_label:
        majority = [pd.Series(data.splits["train"]["label"]).mode().iloc[0]] * len(truth)
        if metric.endswith("accuracy"):
            return "majority class", float(accuracy_score(truth, majority))
        return "majority class", float(f1_score(truth, majority, average=average, labels=labels))
    frequent = pd.Series([y for row in data.splits["train"]["label"] for y in row]).mode().iloc[0]
    binarize = MultiLabelBinarizer(classes=list(labels))
    predicted = binarize.fit_transform([[frequent]] * len(truth))
    return "most frequent label", float(f1_score(binarize.transform(truth), predicted, average=average, zero_division=0))


def _merged(rows: list[dict[str, Any]], per_label: dict[str, dict[str, float]]) -> dict[str, Any]:
    """presets_own.json's payload: earlier own-budget rows and per-label figures of other presets
    kept (a preset's run takes minutes to an hour), each row with the date it was measured on; this
    run's presets replace their earlier entries."""
    path = RESULTS / "presets_own.json"
    earlier = json.loads(path.read_text()) if path.is_file() else {}
    now = {row["preset"] for row in rows}
    stamped = [{**row, "measured": machine()["date"]} for row in rows]
    kept = [r for r in earlier.get("rows", []) if r["preset"] not in now]
    return {"budget": "each preset's own", "rows": sorted(kept + stamped, key=lambda r: r["preset"]),
            "best_trial_test_f1_per_label": dict(sorted({**earlier.get("best_trial_test_f1_per_label", {}),
                                                         **per_label}.items()))}  # fmt: skip


def main() -> None:
    """Each preset in turn (or those named), then one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*", help="preset names (default: every jobs/*.yaml)")
    parser.add_argument("--samples", type=int, default=2, help="trials per preset")
    parser.add_argument("--train", type=int, default=400, help="training examples (pairs) per preset")
    parser.add_argument("--eval", type=int, default=150, help="examples per validation/test split")
    parser.add_argument("--max-length", type=int, default=128, help="cap on the presets' max_length (tokens)")
    parser.add_argument("--quick", action="store_true", help="1 trial on 60 examples: a smoke run")
    parser.add_argument("--own-budget", action="store_true", help="each preset's own trials, examples and lengths")
    args = parser.parse_args()
    if args.quick:
        args.samples, args.train, args.eval, args.max_length = 1, 60, 30, 32
    jobs = [ROOT / "jobs" / f"{name}.yaml" for name in args.presets] or sorted((ROOT / "jobs").glob("*.yaml"))

    rows, per_label = [], {}
    with tempfile.TemporaryDirectory(prefix="finesweep-bench-") as tmp:
        folder = Path(tmp)
        for job in jobs:
            loaded = load_job(job)
            budget = (f"{loaded.job.search.num_samples} trials, {loaded.job.dataset.max_train_samples} training examples"
                      if args.own_budget else f"{args.samples} trials, {args.train} training examples")  # fmt: skip
            print(f"{job.stem}: {budget} ...", flush=True)
            wall = _run_preset(job, folder, args, loaded.raw.get("train", {}).get("max_length", args.max_length))
            figures, labels = _figures(folder, job, loaded.job.task, loaded.objective.primary.metric)
            baseline = frequency_baseline(loaded, args, loaded.objective.primary.metric)
            if baseline is not None:
                figures.update(baseline=baseline[0], baseline_test=baseline[1])
            rows.append({**figures, "budget": budget, "wall_s": wall})
            print(f"  {rows[-1]}", flush=True)
            if labels:
                per_label[job.stem] = labels
                print(f"  best trial's test F1 per label: {labels}", flush=True)
            if args.own_budget:  # kept after each preset: an own-budget run takes up to an hour per preset
                save("presets_own", _merged(rows, per_label))

    table = pd.DataFrame(rows)
    if args.own_budget:
        print_table("Presets at their own budgets", table)
        path = RESULTS / "presets_own.json"  # written after each preset, above
    else:
        print_table(f"Presets at a reduced budget ({args.samples} trials, {args.train} training examples, "
                    f"{args.eval} per evaluation split, at most {args.max_length} tokens)", table)  # fmt: skip
        path = save("presets", {"samples": args.samples, "train": args.train, "eval": args.eval,
                                "max_length": args.max_length, "rows": table.to_dict(orient="records")})  # fmt: skip
    print(f"\nwritten {path.relative_to(ROOT)}")


if __name__ == "__main__":
    from finesweep.settings import Settings, using

    with using(Settings.from_environment(os.environ)):  # a benchmark is an entry point, as the CLI is
        main()
