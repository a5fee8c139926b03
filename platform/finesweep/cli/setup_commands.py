"""Commands that write, check and size a job before it runs: init, validate, plan, schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from finesweep.cli._app import SETUP, allow_remote_code, app, current_settings, require_token_auth
from finesweep.cli.checks import is_space_file
from finesweep.cli.options import COLUMN_HELP, JOB_HELP, SET_HELP, TRUST_HELP
from finesweep.errors import ConfigError, FinesweepError
from finesweep.redact import printable, safe_for_console


@app.command(name="init", rich_help_panel=SETUP)
def init_command(
    data_file: Path = typer.Argument(..., help="Your data file: csv, tsv, jsonl or parquet (csv, tsv and jsonl may be gzipped)."),
    task: Optional[str] = typer.Option(
        None, "--task", help="text_classification, contrastive_embedding or sparse_encoder (default: what the data suggests)."
    ),
    text_column: Optional[str] = typer.Option(None, "--text-column", help=f"The column of texts to classify, {COLUMN_HELP}."),
    label_column: Optional[str] = typer.Option(None, "--label-column", help=f"The column of labels, {COLUMN_HELP}."),
    query_column: Optional[str] = typer.Option(None, "--query-column", help=f"Pairs: the column of queries, {COLUMN_HELP}."),
    passage_column: Optional[str] = typer.Option(None, "--passage-column", help=f"Pairs: the column of passages, {COLUMN_HELP}."),
    output: Path = typer.Option(Path("job.yaml"), "--output", help="The job file to write; an existing file is never overwritten."),
) -> None:
    """Write a commented job file for your own data file: its format, columns, labels or pairs, balance and a
    search space sized to it; validated, with the `finesweep sweep` command to run it. The column options
    override what is detected."""
    from finesweep.data.detect import ColumnOverrides
    from finesweep.init_job import init_job

    columns = ColumnOverrides(text=text_column, label=label_column, query=query_column, passage=passage_column)
    result = init_job(data_file, task, output, columns)
    for line in result.lines:
        typer.echo(safe_for_console(line))


@app.command(rich_help_panel=SETUP)
def validate(
    paths: List[Path] = typer.Argument(..., help="Job files (jobs/*.yaml) and/or search-space files."),
    set_: List[str] = typer.Option([], "--set", help=SET_HELP),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help=TRUST_HELP),
) -> None:
    """Check job and search-space files without starting anything; exit 2 listing every problem."""
    from finesweep.config import load_job, load_space_file

    allow_remote_code(trust_remote_code)

    problems: list[str] = []
    for path in paths:
        try:
            if is_space_file(path):
                load_space_file(path)
            else:
                load_job(path, set_, current_settings())
            typer.echo(safe_for_console(f"ok: {path}"))
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)


@app.command(rich_help_panel=SETUP)
def plan(
    job_file: Path = typer.Argument(..., help=JOB_HELP),
    cluster: str = typer.Option(
        "local",
        "--cluster",
        help="NxMgpu (N nodes of M GPUs, 8 CPUs per GPU), NxMgpu:Kcpu, NxKcpu, shapes joined by +, "
        "local (this machine), or a running cluster: auto, host:port, ray://host:port.",
    ),
    set_: List[str] = typer.Option([], "--set", help=SET_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    gpu_memory: Optional[float] = typer.Option(
        None, "--gpu-memory", min=0.5, max=4096,
        help="Memory of one GPU in GiB (e.g. 80 for an H100): plan warns when a worker's share of a GPU cannot hold "
             "its estimated peak. Default on the local machine: its first CUDA device's.",
    ),  # fmt: skip
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help=TRUST_HELP),
) -> None:
    """Preview a sweep on a cluster shape before anything is rented; starts nothing.

    Prints trials at once and per node, ASHA's rungs, the planned, expected and worst-case
    trial-epochs, a trial worker's estimated peak memory, and a warning for any resource that
    never fits or cannot hold that peak.
    """
    from finesweep.config import load_job
    from finesweep.tuning.commands.preview import parse_cluster_spec, plan_job

    from finesweep.cluster.submit import needs_token_auth

    allow_remote_code(trust_remote_code)
    spec = parse_cluster_spec(cluster)
    loaded = load_job(job_file, set_, current_settings())  # the same checks as `validate`, before any cluster is asked
    if needs_token_auth(current_settings()):  # a running cluster started here requires the token from clients
        require_token_auth()
    result = plan_job(loaded, spec, gpu_memory)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    for line in result.describe():
        typer.echo(safe_for_console(line))


@app.command(rich_help_panel=SETUP)
def schema(
    kind: str = typer.Argument("job", help="job (a job file) or space (a search-space file)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the schema to this file instead of stdout."),
) -> None:
    """Print the JSON Schema of job files or search-space files, for your editor's completion and
    checking (yaml-language-server: ``# yaml-language-server: $schema=FILE`` as a file's first line)."""
    from finesweep.config.json_schema import schema_text
    from finesweep.files import check_output_file, write_new_file

    if kind not in ("job", "space"):
        raise FinesweepError(f"schema: expected job or space (got {kind!r})")
    if output is not None:  # a schema is regenerated: an existing regular file is replaced, nothing else
        check_output_file(output, "--output", replace=True)
    text = schema_text(kind) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        write_new_file(output, text, "--output", replace=True)
        shown = printable(str(output))
        typer.echo(f"wrote {shown}: add `# yaml-language-server: $schema={shown}` as your file's first line")
