"""Commands that read a store's record: leaderboard, sweeps, report."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import typer

from finesweep.cli._app import RECORD, app
from finesweep.cli.checks import check_names, checked_store
from finesweep.cli.options import TRACKING_HELP
from finesweep.cli.output import echo_baselines, echo_warnings
from finesweep.errors import FinesweepError
from finesweep.redact import printable_row, safe_for_console, safe_lines


@app.command(name="leaderboard", rich_help_panel=RECORD)
def leaderboard_command(
    sweep: str = typer.Option(..., "--sweep", help="The sweep's name."),
    top: Optional[int] = typer.Option(None, "--top", min=1, help="Show the best K trials."),
    metric: Optional[str] = typer.Option(None, "--metric", help="Rank by this metric (default: the sweep's)."),
    include_pruned: bool = typer.Option(False, "--include-pruned", help="Also list pruned and failed trials."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON records instead of a table."),
    output: Optional[Path] = typer.Option(None, "--output", help="Also write the table to FILE (.csv or .json)."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=TRACKING_HELP),
) -> None:
    """Rank a sweep's trials by its metric, read from MLflow."""
    check_names(("--sweep", sweep))
    if output is not None and output.suffix.lower() not in (".csv", ".json"):
        raise FinesweepError(f"--output {output}: use a .csv or .json file name")
    from finesweep.tracking.leaderboard import format_table, leaderboard

    board = leaderboard(checked_store(tracking_uri), sweep, metric, top, include_pruned)
    table = board.table
    records = json.loads(table.to_json(orient="records"))
    if output is not None:
        try:
            if output.suffix.lower() == ".csv":
                table.to_csv(output, index_label="rank")
            else:
                output.write_text(json.dumps(records, indent=2), encoding="utf-8")
        except OSError as exc:
            raise FinesweepError(f"--output {output}: cannot write ({exc.strerror or exc})") from None
    if as_json:
        objective = [{"metric": g.metric, "mode": g.mode} for g in board.objective.goals]
        baselines = [{"baseline": f.name, "what": f.label, "val": f.val, "test": f.test} for f in board.baselines]
        document = {"sweep": sweep, "metric": board.goal.metric, "mode": board.goal.mode, "objective": objective,
                    "constraints": [c.text for c in board.objective.constraints], "pareto_front": board.front,
                    "baselines": baselines, "trials": records}  # fmt: skip
        echo_warnings(board.warnings)
        typer.echo(json.dumps(document, indent=2))
    else:
        typer.echo(safe_for_console(f"Sweep {sweep!r}, {board.describe()}:"))
        typer.echo(safe_lines(format_table(table)))
        echo_baselines(board)


@app.command(name="sweeps", rich_help_panel=RECORD)
def sweeps_command(
    experiment: Optional[str] = typer.Option(None, "--experiment", help="Only sweeps of this MLflow experiment."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON records instead of a table."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=TRACKING_HELP),
) -> None:
    """List the sweeps in a store, newest first: task, start, status, trial counts, best value."""
    uri = checked_store(tracking_uri)
    from finesweep.tracking.leaderboard import format_sweeps, sweeps_table

    warnings: list[str] = []
    table = sweeps_table(uri, experiment, warnings)
    echo_warnings(warnings)
    if as_json:
        typer.echo(json.dumps(json.loads(table.to_json(orient="records")), indent=2))
    else:
        typer.echo(format_sweeps(table))


@app.command(rich_help_panel=RECORD)
def report(
    sweep: str = typer.Option(..., "--sweep", help="The sweep's name."),
    output: Optional[str] = typer.Option(None, "--output", help="report.html (self-contained) or report.md."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=TRACKING_HELP),
) -> None:
    """Write a sweep report: leaderboard, plots, best configuration, timings, ASHA's savings."""
    check_names(("--sweep", sweep))
    if output is not None and not output.strip():  # read as text: a Path would turn '' into '.'
        raise FinesweepError("--output: empty; give a file name such as report.html or report.md")
    target = Path(output) if output else Path(f"{sweep}-report.html")
    if target.suffix.lower() not in (".html", ".md"):
        raise FinesweepError(f"--output {target}: use a .html or .md file name")
    folder = target.parent.resolve()
    existing = next((p for p in [folder, *folder.parents] if p.exists()), None)
    if existing is None or not existing.is_dir():
        raise FinesweepError(f"--output {target}: {existing} is not a folder")
    if not os.access(existing, os.W_OK):
        raise FinesweepError(f"--output {target}: folder {existing} is not writable")
    uri = checked_store(tracking_uri)
    from finesweep.tracking.report import write_report

    try:
        path = write_report(uri, sweep, target)
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename and str(exc.filename) != str(target) else ""
        raise FinesweepError(f"--output {target}: cannot write{where} ({exc.strerror or exc})") from None
    typer.echo(printable_row(f"wrote {path}"))
