"""How finesweep's own costs grow with the number of trials: replay sweeps of 10, 100 and 1,000
trials, 64 at once, through the real stack (Ray Tune, the searcher, ASHA, the MLflow callback and
store), each trial replaying a recorded CARER learning curve (bench/curves/README.md).

Per sweep size it measures the driver (the ``finesweep sweep`` process: peak resident memory,
CPU seconds per trial), the MLflow record (rows written per trial, the store's size) and the
commands a user runs on that store afterwards (``leaderboard``, ``sweeps``, ``report``,
``promote-best-model --dry-run``), and the searchers' time per suggestion at each size (TPE,
GP, CMA-ES, NSGA-II, driven directly). Writes ``bench/results/replay_scale.json``.

    FINESWEEP_DATA_DIR=../shared/data python bench/replay_scale.py [--sizes 10 100 1000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, ROOT, machine  # noqa: E402

JOB = ROOT / "bench" / "curves" / "replay_carer.yaml"
FINESWEEP = [sys.executable, "-m", "finesweep"]
_TICK_S = 0.25  # how often the driver's /proc entry is read while it runs
_PAGE = os.sysconf("SC_PAGE_SIZE")
_HZ = os.sysconf("SC_CLK_TCK")


def _proc_figures(pid: int) -> tuple[float, float] | None:
    """(peak resident MiB so far, CPU seconds so far) of a running process, from /proc."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    peak = [int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")]
    if not peak:  # a process that has exited and not yet been reaped keeps no memory figures
        return None
    peak_kib = peak[0]
    cpu_s = (int(stat[11]) + int(stat[12])) / _HZ  # utime + stime, in clock ticks
    return peak_kib / 1024, cpu_s


def run_driver(args: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run ``finesweep ARGS`` and watch its process: wall seconds, peak MiB, CPU seconds."""
    started = time.time()
    # its output goes to a file, not a pipe: a 1,000-trial summary overfills a pipe nobody reads
    # while this loop polls, and the driver then blocks in its last print
    with tempfile.TemporaryFile("w+") as sink:
        process = subprocess.Popen([*FINESWEEP, *args], env=env, stdout=sink, stderr=subprocess.STDOUT, text=True)
        last = (0.0, 0.0)
        while process.poll() is None:
            last = _proc_figures(process.pid) or last
            time.sleep(_TICK_S)
        sink.seek(0)
        output = sink.read()
    if process.returncode != 0:
        raise SystemExit(f"finesweep {' '.join(args)} exited {process.returncode}:\n{output[-4000:]}")
    return {"wall_s": time.time() - started, "peak_mb": last[0], "cpu_s": last[1], "output": output}


def timed(args: list[str], env: dict[str, str], allowed: tuple[int, ...] = (0,)) -> float:
    """Wall seconds of one command, as a user runs it (a fresh process)."""
    started = time.time()
    done = subprocess.run([*FINESWEEP, *args], env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode not in allowed:
        raise SystemExit(f"finesweep {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return time.time() - started


def store_rows(db: Path, trials: int) -> dict[str, float]:
    """Rows the sweep wrote per trial, by table, and the store's size."""
    with sqlite3.connect(db) as connection:
        counts = {table: connection.execute(f"select count(*) from {table}").fetchone()[0]
                  for table in ("metrics", "params", "tags", "runs")}  # fmt: skip
    return {**{f"{table}_rows_per_trial": count / trials for table, count in counts.items() if table != "runs"},
            "runs": counts["runs"], "store_mb": db.stat().st_size / 2**20}  # fmt: skip


def folder_mb(folder: Path) -> float:
    """Bytes under ``folder`` in MiB (the Tune results and MLflow artifacts)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def one_size(trials: int, concurrency: int, folder: Path) -> dict[str, Any]:
    """One replay sweep of ``trials`` trials and the commands on its store."""
    row = sweep_costs(trials, concurrency, folder)
    row.update(command_times(trials, folder))
    print(json.dumps(row), flush=True)
    return row


def _env(folder: Path) -> dict[str, str]:
    return {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"}


def sweep_costs(trials: int, concurrency: int, folder: Path) -> dict[str, Any]:
    """The sweep itself: its driver's memory and CPU, and what it wrote."""
    db, env, sweep = folder / "mlflow.db", _env(folder), f"replay-{trials}"
    sets = [f"search.num_samples={trials}", f"scaling.max_concurrent_trials={concurrency}",
            f"storage_path={folder / 'results'}"]  # fmt: skip
    args = ["sweep", str(JOB), "--name", sweep] + [a for s in sets for a in ("--set", s)]
    driver = run_driver(args, env)
    row: dict[str, Any] = {"trials": trials, "concurrency": concurrency, "wall_s": round(driver["wall_s"], 1),
                           "driver_peak_mb": round(driver["peak_mb"], 1),
                           "driver_cpu_s_per_trial": round(driver["cpu_s"] / trials, 3)}  # fmt: skip
    row.update({k: round(v, 2) for k, v in store_rows(db, trials).items()})
    row["results_mb"] = round(folder_mb(folder / "results"), 1)
    return row


def command_times(trials: int, folder: Path) -> dict[str, float]:
    """Wall seconds of the commands a user runs on the sweep's store, each in a fresh process."""
    env, sweep, row = _env(folder), f"replay-{trials}", {}
    row["leaderboard_s"] = round(timed(["leaderboard", "--sweep", sweep], env), 2)
    row["sweeps_s"] = round(timed(["sweeps"], env), 2)
    row["report_s"] = round(timed(["report", "--sweep", sweep, "--output", str(folder / "report.html")], env), 2)
    # a replay trial logs no model: the dry run reads the sweep, ranks it and picks the best trial
    # (what grows with the trial count), then stops with exit 2 where it would load that model
    row["promote_dry_run_s"] = round(timed(["promote-best-model", "--sweep", sweep, "--model-name", "replay",
                                            "--dry-run"], env, allowed=(0, 2, 3)), 2)  # fmt: skip
    return row


def suggestion_times(sizes: list[int], algorithms: list[str], repeats: int = 10) -> list[dict[str, Any]]:
    """Seconds per suggestion of each searcher with 10, 100, ... finished trials behind it.

    For each size, the searcher starts from that many finished trials (a warm start's priors:
    random configurations of the job's space, each scored with its nearest recorded curve's final
    figure), then proposes ``repeats`` more, each completed the same way; the mean of those is the
    figure. This is the cost a sweep of that size pays per proposal, without running the proposals
    before it (a GP over 1,000 sequential proposals alone takes most of an hour here).
    """
    from finesweep.config.loader import load_job
    from finesweep.tuning.execution.replay import read_table
    from finesweep.tuning.search.build import SearchRequest, build_search, default_request
    from finesweep.tuning.search.study_search import PriorTrial

    table = read_table(ROOT / "bench" / "curves" / "carer_minilm.csv")
    fixed = load_job(JOB).params.model_dump()

    def score(config: dict[str, Any]) -> dict[str, float]:
        curve, _ = table.nearest({**fixed, **config})
        return {"val_macro_f1": curve.epochs[-1]["val_macro_f1"], "epoch": 4}

    randoms = load_job(JOB, ["search.algorithm=random", f"search.num_samples={max(sizes)}"])
    draw = build_search(randoms, default_request(randoms)).search_alg
    draw.set_search_properties("val_macro_f1", "max", {})
    priors = []
    for number in range(max(sizes)):
        config = draw.suggest(f"p{number}")
        metrics = score(config)
        draw.on_trial_complete(f"p{number}", metrics)
        priors.append(PriorTrial(f"random/p{number}", config, metrics))
    rows = []
    for algorithm in algorithms:
        loaded = load_job(JOB, [f"search.algorithm={algorithm}", f"search.num_samples={max(sizes) + repeats}"])
        row: dict[str, Any] = {"algorithm": algorithm}
        for size in sorted(sizes):
            search = build_search(loaded, SearchRequest(size + repeats, tuple(priors[:size]))).search_alg
            search.set_search_properties("val_macro_f1", "max", {})
            spent = 0.0
            for number in range(repeats):
                started = time.perf_counter()
                config = search.suggest(f"t{number}")
                spent += time.perf_counter() - started
                search.on_trial_complete(f"t{number}", score(config or {}))
            row[f"s_per_suggestion_at_{size}"] = round(spent / repeats, 4)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


PER_TRIAL = ("driver_cpu_s_per_trial", "metrics_rows_per_trial", "params_rows_per_trial", "tags_rows_per_trial")


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's goals at the largest size: per-trial costs flat within 2x from the smallest size,
    ``leaderboard`` and ``sweeps`` under 5 s, the driver under 2 GiB; each met or missed as measured."""
    if len(rows) < 2:
        return []
    small, large = min(rows, key=lambda r: r["trials"]), max(rows, key=lambda r: r["trials"])
    span = f"{small['trials']} -> {large['trials']} trials"
    found = [{"target": f"{key}: growth <= 2x ({span})", "measured": round(large[key] / small[key], 2),
              "met": large[key] / small[key] <= 2.0} for key in PER_TRIAL]  # fmt: skip
    for key, limit in (("leaderboard_s", 5.0), ("sweeps_s", 5.0), ("driver_peak_mb", 2048.0)):
        found.append({"target": f"{key} < {limit:g} at {large['trials']} trials", "measured": large[key],
                      "met": large[key] < limit})  # fmt: skip
    return found


def suggestion_targets(suggestions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each searcher's seconds per suggestion, flat within 2x from the smallest size to the largest."""
    found = []
    for row in suggestions:
        sizes = sorted(int(key.rsplit("_", 1)[1]) for key in row if key.startswith("s_per_suggestion_at_"))
        if len(sizes) < 2:
            continue
        small, large = row[f"s_per_suggestion_at_{sizes[0]}"], row[f"s_per_suggestion_at_{sizes[-1]}"]
        growth = large / small
        found.append({"target": f"{row['algorithm']} s_per_suggestion: growth <= 2x ({sizes[0]} -> {sizes[-1]} trials)",
                      "measured": round(growth, 2), "met": growth <= 2.0})  # fmt: skip
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--searchers", nargs="*", default=["tpe", "gp", "cmaes", "nsga2"],
                        help="searchers whose suggestion time is measured at each size (none: skip)")
    parser.add_argument("--keep", type=Path, help="keep each size's store and results under this folder")
    parser.add_argument("--commands-only", action="store_true",
                        help="with --keep: time the commands again on the kept stores (a quiet machine), keeping the sweeps' rows")
    parser.add_argument("--no-sweeps", action="store_true", help="measure only the searchers' suggestion times")
    args = parser.parse_args()
    earlier = json.loads((RESULTS / "replay_scale.json").read_text()) if (RESULTS / "replay_scale.json").exists() else {}
    earlier_rows = {row["trials"]: row for row in earlier.get("sweeps", [])}
    rows = []
    if args.commands_only:
        rows = [{**earlier_rows[trials], **command_times(trials, args.keep / str(trials)),
                 "commands_date": time.strftime("%Y-%m-%d")} for trials in args.sizes]  # fmt: skip
    for trials in [] if args.commands_only or args.no_sweeps else args.sizes:
        if args.keep:
            folder = args.keep / str(trials)
            folder.mkdir(parents=True, exist_ok=False)
            rows.append({**one_size(trials, args.concurrency, folder), "date": time.strftime("%Y-%m-%d")})
            continue
        with tempfile.TemporaryDirectory(prefix=f"replay-scale-{trials}-") as tmp:
            rows.append({**one_size(trials, args.concurrency, Path(tmp)), "date": time.strftime("%Y-%m-%d")})
    measured = {row["trials"] for row in rows}
    rows = sorted(rows + [row for trials, row in earlier_rows.items() if trials not in measured], key=lambda r: r["trials"])
    suggestions = suggestion_times(args.sizes, args.searchers) if args.searchers else earlier.get("suggestions", [])
    result = {**earlier, "date": time.strftime("%Y-%m-%d"), "machine": machine(), "job": str(JOB.relative_to(ROOT)),
              "targets": targets(rows) + suggestion_targets(suggestions), "sweeps": rows, "suggestions": suggestions}  # fmt: skip
    (RESULTS / "replay_scale.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS / 'replay_scale.json'}")


if __name__ == "__main__":
    from finesweep.settings import Settings, using

    with using(Settings.from_environment(os.environ)):  # a benchmark is an entry point, as the CLI is
        main()
