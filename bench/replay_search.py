"""The search measured with statistics: every searcher of the registry, with and without ASHA, at
concurrencies 1, 8 and 64, over 30 seeds, replayed on the recorded CARER learning curves.

Each sweep is one simulated-time replay (``bench/replay_sim.py``: finesweep's own searchers,
budget and schedulers driven through the calls Ray Tune makes; Syne Tune's simulator backend), so
that 30 seeds of every combination take minutes. The same job runs for real through Ray and MLflow
with ``finesweep sweep bench/curves/replay_carer.yaml`` (docs/replay.md).

Sections (``--sections``):

- ``searchers``: anytime curves, the best validation macro-F1 found against trial-epochs spent,
  for each searcher x scheduler x concurrency; against random search and the job's default
  configuration trained once.
- ``asha``: ASHA's grace period and reduction factor for TPE at 8 at once.
- ``warm``: TPE + ASHA warm-started from an earlier TPE + ASHA sweep of half the budget, against the
  cold sweep of the whole budget (target: within 0.01 of the table's best at <= 20 % of a full
  grid's trial-epochs, on the mean over seeds).
- ``multi``: MO-ASHA against no stopping for MOTPE and NSGA-II on validation macro-F1 and the
  adapter's size (target: >= 95 % of the no-stopping hypervolume at <= 60 % of its trial-epochs).

Each searcher's seconds per suggestion as a sweep grows are measured by ``bench/replay_scale.py``.

Usage::

    FINESWEEP_DATA_DIR=../shared/data .venv/bin/python bench/replay_search.py [--seeds 30] [--quick]

Writes ``bench/results/replay_search.json`` (summaries), ``bench/results/raw/replay_search_seeds.json``
(every seed's figures) and the anytime plots under ``docs/images/``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from replay_sim import SweepSetup, SweepTrace, simulate  # noqa: E402

JOB = REPO / "bench" / "curves" / "replay_carer.yaml"
TABLE = REPO / "bench" / "curves" / "carer_minilm.csv"
RESULTS = REPO / "bench" / "results"
IMAGES = REPO / "docs" / "images"
METRIC, MODE = "val_macro_f1", "max"
SINGLE = ("tpe", "random", "gp", "cmaes", "qmc", "grid")  # the registry's single-objective searchers
MULTI = ("motpe", "nsga2")
CONCURRENCY = (1, 8, 64)
CHECKPOINTS = (20, 40, 80, 120, 160)  # trial-epochs at which the anytime curves are summarised
NEAR = 0.01  # "within 0.01 of the table's best"


@dataclass(frozen=True)
class Arm:
    """One combination measured over seeds."""

    searcher: str
    scheduler: str  # asha or none
    concurrency: int
    extra: tuple[str, ...] = ()  # further --set overrides (ASHA's settings)

    @property
    def label(self) -> str:
        return f"{self.searcher}+{self.scheduler} x{self.concurrency}" + (f" {' '.join(self.extra)}" if self.extra else "")


def machine() -> dict[str, Any]:
    import os
    import platform

    import torch

    return {"cpus": os.cpu_count(), "gpu": None, "python": platform.python_version(), "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d")}  # fmt: skip


def setup_for(arm: Arm, seed: int, budget: int, **more: Any) -> SweepSetup:
    overrides = (f"search.algorithm={arm.searcher}", f"scheduler.type={arm.scheduler}", f"search.seed={seed}", *arm.extra)
    return SweepSetup(JOB, overrides, arm.concurrency, budget, grid_over_table=arm.searcher == "grid", **more)


def run_arm(arm: Arm, seeds: list[int], budget: int, table: Any) -> list[dict[str, Any]]:
    """One sweep per seed: its anytime curve, its best, and the best trial's test figure."""
    rows = []
    for seed in seeds:
        trace = simulate(setup_for(arm, seed, budget), table, seed)
        rows.append(seed_row(trace, seed, budget))
    return rows


def seed_row(trace: SweepTrace, seed: int, budget: int) -> dict[str, Any]:
    curve = trace.best_by_epochs(METRIC, MODE, budget)
    best_trial = max(trace.trials, key=lambda t: t.metrics.get(METRIC, -math.inf))
    return {"seed": seed, "curve": curve, "best": curve[-1], "best_test": _final_test(best_trial.curve),
            "trials": len(trace.trials), "pruned": sum(t.status == "pruned" for t in trace.trials),
            "trial_epochs": trace.trial_epochs, "suggest_ms": 1000 * statistics.mean(trace.suggest_s or [0.0])}  # fmt: skip


_TABLE: Any = None


def _final_test(config: int) -> float | None:
    """The held-out macro-F1 of a recorded configuration's last epoch."""
    curve = next(c for c in _TABLE.curves if c.config == config)
    return curve.epochs[-1].get("test_macro_f1")


def summarise(rows: list[dict[str, Any]], table_best: float, default: float) -> dict[str, Any]:
    """Mean, spread and quartiles over seeds, at the checkpoints and at the end."""
    finals = [r["best"] for r in rows]
    out: dict[str, Any] = {
        "seeds": len(rows),
        "best_mean": statistics.mean(finals),
        "best_std": statistics.stdev(finals) if len(finals) > 1 else 0.0,
        "best_sem": (statistics.stdev(finals) / math.sqrt(len(finals))) if len(finals) > 1 else 0.0,
        "gap_to_table_best_mean": table_best - statistics.mean(finals),
        "share_within_0.01": sum(f >= table_best - NEAR for f in finals) / len(finals),
        "gain_over_default_mean": statistics.mean(finals) - default,
        "best_trial_test_mean": statistics.mean([r["best_test"] for r in rows if r["best_test"] is not None] or [math.nan]),
        "trials_mean": statistics.mean(r["trials"] for r in rows),
        "pruned_mean": statistics.mean(r["pruned"] for r in rows),
        "suggest_ms_mean": statistics.mean(r["suggest_ms"] for r in rows),
    }
    for point in CHECKPOINTS:
        if point <= len(rows[0]["curve"]):
            values = [r["curve"][point - 1] for r in rows if r["curve"][point - 1] is not None]
            out[f"best_at_{point}_mean"] = statistics.mean(values) if values else math.nan
    return out


def band(rows: list[dict[str, Any]]) -> tuple[list[float], list[float], list[float]]:
    """Per trial-epoch: the mean over seeds and the 25th and 75th percentiles."""
    import numpy as np

    curves = np.array([[math.nan if v is None else v for v in r["curve"]] for r in rows], dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # columns before any seed's first report are all NaN
        return (list(np.nanmean(curves, axis=0)), list(np.nanpercentile(curves, 25, axis=0)),
                list(np.nanpercentile(curves, 75, axis=0)))  # fmt: skip


def plot_anytime(results: dict[str, list[dict[str, Any]]], concurrency: int, table_best: float, default: float,
                 path: Path) -> None:  # fmt: skip
    """One figure per concurrency: a line per searcher (solid ASHA, dashed none) and its band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    colours = dict(zip(SINGLE, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for axis, scheduler in zip(axes, ("asha", "none")):
        for searcher in SINGLE:
            rows = results.get(Arm(searcher, scheduler, concurrency).label)
            if not rows:
                continue
            mean, low, high = band(rows)
            xs = range(1, len(mean) + 1)
            axis.plot(xs, mean, color=colours[searcher], label=searcher)
            axis.fill_between(xs, low, high, color=colours[searcher], alpha=0.12)
        axis.axhline(table_best, color="black", linestyle=":", label="table's best")
        axis.axhline(default, color="grey", linestyle="--", label="default configuration")
        axis.set_title(f"{'ASHA' if scheduler == 'asha' else 'no early stopping'}, {concurrency} at once")
        axis.set_xlabel("trial-epochs spent")
        axis.set_ylim(0.3, table_best + 0.02)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("best validation macro-F1 found (mean; band: 25-75 % of seeds)")
    axes[1].legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)


def default_figure(table: Any) -> tuple[float, dict[str, Any]]:
    """The job's own train values (no search space): the nearest recorded curve's last validation figure."""
    from finesweep.config.loader import load_job

    loaded = load_job(JOB)
    names = list(table.param_names)
    train = loaded.params.model_dump()  # the job's train values over the task's defaults
    config = {name: train[name] for name in names if name in train}
    curve, _ = table.nearest(config)
    return curve.epochs[-1][METRIC], config


def section_searchers(seeds: list[int], budget: int, table: Any, table_best: float, default: float,
                      concurrencies: tuple[int, ...], raw: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    results: dict[str, list[dict[str, Any]]] = {}
    summary = []
    for concurrency in concurrencies:
        for scheduler in ("asha", "none"):
            for searcher in SINGLE:
                arm = Arm(searcher, scheduler, concurrency)
                started = time.perf_counter()
                rows = run_arm(arm, seeds, budget, table)
                results[arm.label] = rows
                figures = summarise(rows, table_best, default)
                print(f"{arm.label:24s} best {figures['best_mean']:.4f} ± {figures['best_sem']:.4f} (sem) "
                      f"within 0.01: {figures['share_within_0.01']:.2f}  ({time.perf_counter() - started:.0f} s)", flush=True)
                summary.append({"searcher": searcher, "scheduler": scheduler, "concurrency": concurrency, **figures})
        plot_anytime(results, concurrency, table_best, default, IMAGES / f"replay_anytime_{concurrency}.png")
    raw["searchers"] = {label: [{k: v for k, v in r.items() if k != "curve"} | {"curve": r["curve"][::4]} for r in rows]
                        for label, rows in results.items()}  # fmt: skip
    return {"rows": summary, "significance": significance(results, concurrencies)}


def significance(results: dict[str, list[dict[str, Any]]], concurrencies: tuple[int, ...]) -> list[dict[str, Any]]:
    """Each searcher against random search with the same scheduler and concurrency: the mean
    difference of the final best and a two-sided Mann-Whitney U test over seeds (scipy)."""
    from scipy.stats import mannwhitneyu

    rows = []
    for concurrency in concurrencies:
        for scheduler in ("asha", "none"):
            reference = [r["best"] for r in results.get(Arm("random", scheduler, concurrency).label, [])]
            for searcher in SINGLE:
                if searcher == "random" or not reference:
                    continue
                values = [r["best"] for r in results[Arm(searcher, scheduler, concurrency).label]]
                test = mannwhitneyu(values, reference, alternative="two-sided")
                rows.append({"searcher": searcher, "scheduler": scheduler, "concurrency": concurrency,
                             "minus_random": statistics.mean(values) - statistics.mean(reference),
                             "p_value": float(test.pvalue)})  # fmt: skip
    return rows


def section_asha(seeds: list[int], budget: int, table: Any, table_best: float, default: float) -> list[dict[str, Any]]:
    rows = []
    for grace in (1, 2):
        for factor in (2, 3, 4):
            arm = Arm("tpe", "asha", 8, (f"scheduler.grace_period={grace}", f"scheduler.reduction_factor={factor}"))
            figures = summarise(run_arm(arm, seeds, budget, table), table_best, default)
            print(f"{arm.label:60s} best {figures['best_mean']:.4f} ± {figures['best_sem']:.4f}", flush=True)
            rows.append({"grace_period": grace, "reduction_factor": factor, **figures})
    return rows


def section_warm(seeds: list[int], budget: int, table: Any, table_best: float, grid_epochs: int) -> dict[str, Any]:
    """A source sweep of half the budget (seed + 100), then a warm start from its trials with the
    other half; the figure is the best known after both, at both sweeps' trial-epochs together."""
    from finesweep.tuning.search.study_search import PriorTrial

    arm = Arm("tpe", "asha", 8)
    # each sweep's running trials finish the epoch they are in after its budget ends (up to
    # concurrency - 1 epochs more), so the two halves leave room for that within ``budget``
    half = (budget - 2 * (arm.concurrency - 1)) // 2
    rows = []
    for seed in seeds:
        source = simulate(setup_for(arm, seed + 100, half), table, seed + 100)
        priors = tuple(PriorTrial(f"source/{t.trial_id}", dict(t.config), dict(t.metrics)) for t in source.trials
                       if t.status == "completed" and METRIC in t.metrics)  # fmt: skip
        warm = simulate(setup_for(arm, seed, half, priors=priors), table, seed)
        cold = simulate(setup_for(arm, seed, budget), table, seed)
        known = max(source.best_by_epochs(METRIC, MODE, half)[-1] or 0.0, warm.best_by_epochs(METRIC, MODE, half)[-1] or 0.0)
        rows.append({"seed": seed, "warm_best_known": known, "cold_best": cold.best_by_epochs(METRIC, MODE, budget)[-1],
                     "trial_epochs": source.trial_epochs + warm.trial_epochs, "priors": len(priors)})  # fmt: skip
    gaps = [table_best - r["warm_best_known"] for r in rows]
    cold_gaps = [table_best - r["cold_best"] for r in rows]
    epochs = statistics.mean(r["trial_epochs"] for r in rows)
    result = {
        "budget_trial_epochs": budget, "grid_trial_epochs": grid_epochs,
        "share_of_grid_compute": epochs / grid_epochs,
        "warm_gap_to_table_best_mean": statistics.mean(gaps), "warm_gap_std": statistics.stdev(gaps),
        "cold_gap_to_table_best_mean": statistics.mean(cold_gaps), "cold_gap_std": statistics.stdev(cold_gaps),
        "warm_share_within_0.01": sum(g <= NEAR for g in gaps) / len(gaps),
        "target": "mean gap <= 0.01 at <= 20 % of the grid's trial-epochs",
        "met": statistics.mean(gaps) <= NEAR and epochs / grid_epochs <= 0.20,
    }  # fmt: skip
    print(f"warm start: gap {result['warm_gap_to_table_best_mean']:.4f} (cold {result['cold_gap_to_table_best_mean']:.4f}) "
          f"at {result['share_of_grid_compute']:.0%} of the grid; met: {result['met']}", flush=True)
    return result


def section_multi(seeds: list[int], trials: int, table: Any) -> dict[str, Any]:
    """MO-ASHA against no stopping: the same number of trials, 8 at once; the hypervolume of the
    completed trials (gains: macro-F1 above 0, size below 1.1 x the table's largest adapter)."""
    from finesweep.objective import MetricGoal, Objective
    from finesweep.objective.pareto import hypervolume

    objective = Objective((MetricGoal("val_macro_f1", "max"), MetricGoal("model_size_mb", "min")))
    largest = max(e["model_size_mb"] for c in table.curves for e in c.epochs)
    reference = (0.0, -1.1 * largest)
    objectives = 'search.objectives=[{"metric": "val_macro_f1"}, {"metric": "model_size_mb"}]'
    out = {}
    for searcher in MULTI:
        rows = []
        for seed in seeds:
            volumes, epochs = {}, {}
            for scheduler in ("asha", "none"):
                arm = Arm(searcher, scheduler, 8, (objectives, "search.metric=null"))
                trace = simulate(setup_for(arm, seed, 100_000, num_samples=trials), table, seed)
                gains = [objective.gains(t.metrics) for t in trace.trials if t.status == "completed"]
                volumes[scheduler] = hypervolume([g for g in gains if g is not None], reference)
                epochs[scheduler] = trace.trial_epochs
            rows.append({"seed": seed, "hypervolume_share": volumes["asha"] / volumes["none"],
                         "epochs_share": epochs["asha"] / epochs["none"]})  # fmt: skip
        share = statistics.mean(r["hypervolume_share"] for r in rows)
        epochs_share = statistics.mean(r["epochs_share"] for r in rows)
        out[searcher] = {"trials": trials, "seeds": len(rows), "hypervolume_share_mean": share,
                         "hypervolume_share_std": statistics.stdev(r["hypervolume_share"] for r in rows),
                         "epochs_share_mean": epochs_share,
                         "target": ">= 95 % of the no-stopping hypervolume at <= 60 % of its trial-epochs",
                         "met": share >= 0.95 and epochs_share <= 0.60}  # fmt: skip
        print(f"MO-ASHA {searcher}: hypervolume {share:.3f} of no stopping at {epochs_share:.0%} of its trial-epochs", flush=True)
    return out


def main() -> None:
    global _TABLE
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--budget", type=int, default=160, help="trial-epochs per sweep (20 % of the table's grid)")
    parser.add_argument("--sections", nargs="+", default=["searchers", "asha", "warm", "multi"])
    parser.add_argument("--quick", action="store_true", help="3 seeds, concurrency 8 only: a smoke run")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")  # Optuna's experimental-feature warnings, once per sampler
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    from finesweep.tuning.execution.replay import read_table

    table = _TABLE = read_table(TABLE)
    seeds = list(range(3 if args.quick else args.seeds))
    concurrencies = (8,) if args.quick else CONCURRENCY
    table_best = table.best(METRIC, MODE)
    default, default_config = default_figure(table)
    grid_epochs = len(table.curves) * table.max_epochs
    path = RESULTS / "replay_search.json"
    stored = json.loads(path.read_text()) if path.is_file() and not args.quick else {}
    raw_path = RESULTS / "raw" / "replay_search_seeds.json"
    raw = json.loads(raw_path.read_text()) if raw_path.is_file() and not args.quick else {}
    result = {**stored, "date": time.strftime("%Y-%m-%d"), "machine": machine(),
              "table": {"file": str(TABLE.relative_to(REPO)), "configurations": len(table.curves),
                        "epochs": table.max_epochs, "best_val_macro_f1": table_best,
                        "grid_trial_epochs": grid_epochs},
              "default_configuration": {"config": json.dumps(default_config), "val_macro_f1": default, "trial_epochs": table.max_epochs},
              "budget_trial_epochs": args.budget, "seeds": len(seeds),
              "how": "simulated-time replay (bench/replay_sim.py) of finesweep's own searchers, budget and "
                     "schedulers; off-table proposals replay the nearest recorded configuration"}  # fmt: skip
    started = time.perf_counter()
    if "searchers" in args.sections:
        result["searchers"] = section_searchers(seeds, args.budget, table, table_best, default, concurrencies, raw)
        result["figures"] = [{"path": f"images/replay_anytime_{c}.png",
                              "caption": f"Best validation macro-F1 found against trial-epochs, {c} trial(s) at once"}
                             for c in concurrencies]  # fmt: skip
    if "asha" in args.sections:
        result["asha_settings"] = section_asha(seeds, args.budget, table, table_best, default)
    if "warm" in args.sections:
        result["warm_start"] = section_warm(seeds, args.budget, table, table_best, grid_epochs)
    if "multi" in args.sections:
        result["mo_asha"] = section_multi(seeds, 40, table)
    result["bench_seconds"] = round(time.perf_counter() - started, 1)
    if args.quick:
        print(json.dumps({k: v for k, v in result.items() if k != "searchers"}, indent=1, default=float)[:3000])
        return
    path.write_text(json.dumps(result, indent=2, default=float) + "\n")
    raw_path.parent.mkdir(parents=True, exist_ok=True)
    raw_path.write_text(json.dumps(raw, default=float) + "\n")
    print(f"wrote {path.relative_to(REPO)} and {raw_path.relative_to(REPO)}")


if __name__ == "__main__":
    from finesweep.settings import Settings, using

    with using(Settings.from_environment(os.environ)):  # a benchmark is an entry point, as the CLI is
        main()
