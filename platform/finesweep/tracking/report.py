"""A sweep's self-contained report (HTML with embedded plots, or Markdown beside PNG files)."""

from __future__ import annotations

import base64
import html
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from finesweep.objective import Objective
from finesweep.tracking.baselines import baseline_lines, best_trial_of
from finesweep.tracking.leaderboard import rank, rounded, significant, sweep_objective
from finesweep.tracking.metric_names import mlflow_name, recorded_metric
from finesweep.tracking.schema import TAG_SEARCHED, TAG_SWEEP, TAG_VERDICT
from finesweep.tracking.snapshot import SweepSnapshot, read_sweep
from finesweep.tracking.store import client


@dataclass
class SweepFacts:
    """What a report says about a sweep."""

    name: str
    objective: Objective
    ranked: str  # how the table is ordered ("by val_macro_f1 (max)", "by Pareto front of ...")
    front: list[str]
    table: pd.DataFrame
    best_params: dict[str, str]
    parent_metrics: dict[str, float]
    planned_epochs: int
    run_epochs: int
    baselines: list[str]  # the baselines and the best trial's gain over each, as printed
    verdict: str = ""  # the sweep's verdict line, as it closed (its parent run's finesweep.verdict tag)

    @property
    def epochs_saved(self) -> int:
        """Trial-epochs ASHA did not spend against running every trial to its planned end."""
        return self.planned_epochs - self.run_epochs


def sweep_facts(snapshot: SweepSnapshot) -> SweepFacts:
    """Leaderboard, best configuration, timings and ASHA savings of a sweep already read."""
    parent, children = snapshot.parent, list(snapshot.trials)
    sweep = parent.data.tags.get(TAG_SWEEP, parent.info.run_name)
    board = rank(snapshot, include_pruned=True)
    table = board.table
    searched = [p for p in parent.data.tags.get(TAG_SEARCHED, "").split(",") if p]
    best = table[table["status"] == "completed"].head(1)
    best_params = {}
    if not best.empty:
        best_run = next(run for run in children if run.info.run_id == best.iloc[0]["run_id"])
        best_params = {k: v for k, v in sorted(best_run.data.params.items()) if not searched or k in searched}
    planned = sum(int(float(r.data.params.get("epochs", 0))) for r in children)
    ran = sum(int(recorded_metric(r.data.metrics, "epoch") or 0) for r in children)
    compared = baseline_lines(board.baselines, board.goal, best_trial_of(board), board.compute)
    return SweepFacts(sweep, board.objective, board.describe(), board.front, table, best_params,
                      dict(parent.data.metrics), planned, ran, compared, parent.data.tags.get(TAG_VERDICT, ""))  # fmt: skip


def log_sweep_plots(mlflow_client: Any, snapshot: SweepSnapshot) -> list[Path]:
    """Render the plots of a sweep already read and attach them to its parent run under ``plots/``."""
    from finesweep.tracking.plots import sweep_plots

    parent = snapshot.parent
    objective = sweep_objective(parent)
    with tempfile.TemporaryDirectory(prefix="finesweep-plots-") as tmp:
        paths = sweep_plots(mlflow_client, parent, list(snapshot.trials), objective, Path(tmp))
        for path in paths:
            mlflow_client.log_artifact(parent.info.run_id, str(path), "plots")
        return [Path("plots") / p.name for p in paths]


def _system(metrics: dict[str, float], key: str) -> float:
    """A parent-run measurement, logged as ``system/<key>`` (plain ``<key>`` by older sweeps)."""
    return metrics.get(mlflow_name(key), metrics.get(key, float("nan")))


def _count(metrics: dict[str, float], key: str, default: int = 0) -> int:
    value = recorded_metric(metrics, key)
    return default if value is None else int(value)


def _summary_lines(facts: SweepFacts) -> list[str]:
    m = facts.parent_metrics
    primary = facts.objective.primary
    lines = [
        f"Trials: {_count(m, 'n_trials', len(facts.table))} ({_count(m, 'n_completed')} completed, "
        f"{_count(m, 'n_pruned')} stopped early by ASHA, {_count(m, 'n_failed')} failed)",
        f"Objective: {facts.objective.describe()}; trials ranked {facts.ranked}",
        f"Best {primary.describe()}: {significant(m.get(f'best_{primary.metric}'))}",
        f"Sweep wall time: {_system(m, 'sweep_wall_time_s'):.0f} s; mean time from trial start to first "
        f"training step: {_system(m, 'mean_time_to_first_step_s'):.1f} s",
        f"Trial-epochs run: {facts.run_epochs} of {facts.planned_epochs} planned; ASHA saved {facts.epochs_saved} "
        f"({100 * facts.epochs_saved / max(facts.planned_epochs, 1):.0f}%)",
    ]
    if facts.objective.multi:
        lines.append(f"Pareto front: {len(facts.front)} trial(s): {', '.join(facts.front) or '-'}")
    if facts.verdict:
        lines.append(facts.verdict[0].upper() + facts.verdict[1:])  # "Verdict: the best trial ..."
    return lines


def write_report(tracking_uri: str, sweep: str, output: Path) -> Path:
    """Write ``output`` (.html: self-contained; .md: Markdown with PNGs in ``<stem>_plots/``)."""
    snapshot = read_sweep(client(tracking_uri), sweep)
    facts, parent, children = sweep_facts(snapshot), snapshot.parent, list(snapshot.trials)
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() != ".md":
        # the HTML report embeds its plots: they are drawn in a temporary folder, removed whatever happens
        with tempfile.TemporaryDirectory(prefix="finesweep-report-") as tmp:
            return _write(tracking_uri, sweep, output, facts, parent, children, Path(tmp), html_mode=True)
    return _write(tracking_uri, sweep, output, facts, parent, children, output.with_name(output.stem + "_plots"), html_mode=False)


def _write(tracking_uri: str, sweep: str, output: Path, facts: Any, parent: Any, children: Any, plot_dir: Path,
           html_mode: bool) -> Path:  # fmt: skip
    from finesweep.tracking.plots import sweep_plots

    plots = sweep_plots(client(tracking_uri), parent, children, facts.objective, plot_dir)
    shown = rounded(facts.table.drop(columns=["run_id"]))  # 4 significant digits, parameters included
    if html_mode:
        images = "".join(
            f'<h3>{html.escape(p.stem.replace("_", " "))}</h3><img alt="{p.stem}" src="data:image/png;base64,'
            f'{base64.b64encode(p.read_bytes()).decode()}"/>'
            for p in plots
        )
        best = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(significant(v))}</td></tr>" for k, v in facts.best_params.items())
        baselines = f"<h2>Baselines</h2><pre>{html.escape(chr(10).join(facts.baselines))}</pre>" if facts.baselines else ""
        body = (
            f"<h1>Sweep {html.escape(sweep)}</h1><ul>{''.join(f'<li>{html.escape(x)}</li>' for x in _summary_lines(facts))}</ul>"
            f"<h2>Best configuration</h2><table>{best}</table>{baselines}<h2>Leaderboard</h2>"
            f"{shown.to_html()}<h2>Plots</h2>{images}"
        )
        style = "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}"
        output.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>Sweep {html.escape(sweep)}</title><style>{style}</style></head><body>{body}</body></html>", encoding="utf-8")
    else:
        lines = [f"# Sweep {sweep}", "", *[f"- {x}" for x in _summary_lines(facts)], "", "## Best configuration", ""]
        lines += [f"- `{k}`: {significant(v)}" for k, v in facts.best_params.items()]
        if facts.baselines:
            lines += ["", "## Baselines", "", "```", *facts.baselines, "```"]
        lines += ["", "## Leaderboard", "", "```", shown.to_string(), "```", ""]
        lines += ["## Plots", ""] + [f"![{p.stem}]({plot_dir.name}/{p.name})" for p in plots]
        output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return output
