"""Lines several commands print: warnings, baselines, a promotion's table, encoded vectors."""

from __future__ import annotations

import json
from typing import Any

import typer

from finesweep.redact import printable_row, safe_for_console, safe_lines


def echo_warnings(warnings: list[str]) -> None:
    """What a command read but left out (a baseline tag of ``nan``), one ``warning:`` line each on stderr."""
    for line in dict.fromkeys(warnings):
        typer.echo(safe_for_console(f"warning: {line}"), err=True)


def echo_baselines(board: Any) -> None:
    """The sweep's baselines on the ranking metric, with the top trial's gain over each (and a
    warning for each baseline tag left out)."""
    from finesweep.tracking.baselines import baseline_lines, best_trial_of

    echo_warnings(board.warnings)
    lines = baseline_lines(board.baselines, board.goal, best_trial_of(board), board.compute)
    if lines:
        typer.echo("")
        typer.echo(safe_lines("\n".join(lines)))


def print_promotion(outcome) -> None:
    echo_warnings(outcome.warnings)
    if outcome.chosen:
        typer.echo(safe_for_console(f"challenger: {outcome.chosen}"))
    typer.echo(f"Held-out test split, deciding metric {outcome.goal.describe()}:")
    typer.echo(outcome.table.to_string(float_format=lambda v: f"{v:.4f}", na_rep="-"))
    if outcome.significance:
        s = outcome.significance
        typer.echo(
            f"paired bootstrap (1000 resamples): difference {s['difference']:+.4f}, "
            f"95% CI [{s['ci_low']:+.4f}, {s['ci_high']:+.4f}], p = {s['p_value']:.3f}"
        )


def print_vectors(rows: list[dict[str, Any]], as_json: bool) -> None:
    """One line per text: the vector's size and first values (dense) or its heaviest terms (sparse)."""
    for row in rows:
        if as_json:
            typer.echo(json.dumps(row, ensure_ascii=False))
        elif "vector" in row:
            head = ", ".join(f"{x:.4f}" for x in row["vector"][:4])
            typer.echo(printable_row(f"{len(row['vector'])} dims [{head}, ...]\t{row['text']}"))
        else:
            terms = " ".join(f"{term}:{weight:.2f}" for term, weight in list(row["terms"].items())[:8])
            typer.echo(printable_row(f"{terms}\t{row['text']}"))
