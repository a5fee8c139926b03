"""The ``finesweep`` command line.

Errors a user can fix (bad config, missing data, unreachable tracking store) print as one line per
problem and exit with code 2; anything else is an internal failure and exits with 1. ``--debug``
shows the traceback. Heavy libraries are imported inside commands, so ``--help`` and
``validate`` stay fast.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import List, Optional

import typer

from finesweep.errors import ConfigError, FinesweepError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Hyperparameter sweeps for text-model fine-tuning on Ray Tune, Ray Train and MLflow.",
)
_state = {"debug": False}


@app.callback()
def _options(debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors.")) -> None:
    _state["debug"] = debug


@app.command()
def validate(
    paths: List[Path] = typer.Argument(..., help="Job files (jobs/*.yaml) and/or search-space files."),
    set_: List[str] = typer.Option([], "--set", help="Override a job key: dotted.key=value (YAML value)."),
) -> None:
    """Check job and search-space files without starting anything; exit 2 listing every problem."""
    from finesweep.config import load_job, load_space_file

    problems: list[str] = []
    for path in paths:
        try:
            if _is_space_file(path):
                load_space_file(path)
            else:
                load_job(path, set_)
            typer.echo(f"ok: {path}")
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)


def _is_space_file(path: Path) -> bool:
    """A search-space file has a top-level ``parameters`` key and no ``dataset``."""
    from finesweep.config.loader import parse_yaml_text

    try:
        data = parse_yaml_text(path.read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - the job loader reports unreadable files properly
        return False
    return isinstance(data, dict) and "parameters" in data and "dataset" not in data


@app.command()
def sweep(
    job_file: Path = typer.Argument(..., help="The job file, e.g. jobs/quickstart.yaml."),
    set_: List[str] = typer.Option([], "--set", help="Override a job key: dotted.key=value (YAML value)."),
    name: Optional[str] = typer.Option(None, "--name", help="Sweep name (default: <job name>-<UTC time>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted sweep of this name."),
) -> None:
    """Run a hyperparameter sweep: Optuna/grid search, ASHA, Ray Train trials, MLflow runs."""
    from finesweep.config import load_job

    loaded = load_job(job_file, set_)
    from finesweep.tracking.leaderboard import format_table, leaderboard
    from finesweep.tuning.sweep import run_sweep

    summary = run_sweep(loaded, name=name, resume=resume)
    table, metric, _ = leaderboard(summary.tracking_uri, summary.name, include_pruned=True)
    typer.echo("")
    typer.echo(f"Leaderboard for sweep {summary.name!r} (by {metric}, {summary.mode}):")
    typer.echo(format_table(table))
    typer.echo("")
    typer.echo(
        f"{len(summary.statuses)} trials: {summary.count('completed')} completed, {summary.count('pruned')} "
        f"stopped early by ASHA, {summary.count('failed')} failed; wall time {summary.wall_time_s:.0f} s"
    )
    if summary.best_trial_id:
        typer.echo(f"best trial {summary.best_trial_id}: {metric} = {summary.best_value:.4f}")
    if summary.mean_time_to_first_step_s is not None:
        typer.echo(f"mean seconds from trial start to first training step: {summary.mean_time_to_first_step_s:.1f}")
    if not summary.resources_released:
        typer.echo(f"warning: resources still held after the sweep: {summary.leaked}", err=True)
    typer.echo(f"MLflow: {summary.tracking_uri} (parent run {summary.parent_run_id})")
    if summary.count("failed"):
        raise typer.Exit(1)


@app.command(name="leaderboard")
def leaderboard_command(
    sweep: str = typer.Option(..., "--sweep", help="The sweep's name."),
    top: Optional[int] = typer.Option(None, "--top", min=1, help="Show the best K trials."),
    metric: Optional[str] = typer.Option(None, "--metric", help="Rank by this metric (default: the sweep's)."),
    include_pruned: bool = typer.Option(False, "--include-pruned", help="Also list pruned and failed trials."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON records instead of a table."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help="Default: $MLFLOW_TRACKING_URI or ./mlflow.db."),
) -> None:
    """Rank a sweep's trials by its metric, read from MLflow."""
    from finesweep.tracking.leaderboard import format_table, leaderboard
    from finesweep.tracking.store import resolve_tracking_uri

    table, metric_name, mode = leaderboard(resolve_tracking_uri(tracking_uri), sweep, metric, top, include_pruned)
    if as_json:
        typer.echo(json.dumps({"sweep": sweep, "metric": metric_name, "mode": mode, "trials": json.loads(
            table.to_json(orient="records"))}, indent=2))
    else:
        typer.echo(f"Sweep {sweep!r}, by {metric_name} ({mode}):")
        typer.echo(format_table(table))


def main() -> None:
    """Console entry point: run the app, mapping errors to exit codes 2 (user) and 1 (internal)."""
    try:
        # standalone mode: click/typer print usage errors themselves and exit 2
        app(standalone_mode=True)
    except FinesweepError as exc:
        if _state["debug"]:
            traceback.print_exc()
        lines = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
        for line in lines:
            typer.echo(f"error: {line}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, exit 1
        if _state["debug"]:
            traceback.print_exc()
        typer.echo(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", err=True)
        sys.exit(1)
