"""The ``finesweep`` command line.

Errors a user can fix (bad config, missing data, unreachable tracking store) print as one line per
problem and exit with code 2; anything else is an internal failure and exits with 1. ``--debug``
shows the traceback. Heavy libraries are imported inside commands, so ``--help`` and
``validate`` stay fast.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any, List, Optional

import typer

from finesweep.errors import ConfigError, FinesweepError, SweepError
from finesweep.redact import printable, printable_row, safe_for_console, safe_lines
from finesweep.settings import PROCESS_ENV, QUIET_ENV, Settings, using

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Hyperparameter sweeps for text-model fine-tuning on Ray Tune, Ray Train and MLflow.",
)
_state = {"debug": False}
_SETTINGS: list[Settings] = []  # the command's settings, built from the environment by the callback


@app.callback()
def _options(ctx: typer.Context, debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors.")) -> None:
    """Before every command: its settings, read from this process's environment once, and in use
    (``finesweep.settings.using``) until the command ends."""
    _state["debug"] = debug
    _SETTINGS[:] = [Settings.from_environment(os.environ)]
    ctx.with_resource(using(_SETTINGS[0]))


def _settings() -> Settings:
    """The running command's settings (read from the environment by the app's callback)."""
    return _SETTINGS[0] if _SETTINGS else Settings.from_environment(os.environ)


_TRUST_HELP = ("Allow a job's model.trust_remote_code: true, which runs the base model folder's own Python code; "
               "a job file alone cannot allow it.")


def _trust_remote_code(allowed: bool) -> None:
    """``--trust-remote-code``: the command's settings (``_settings()``, which it passes down) allow
    a job's ``model.trust_remote_code``; without the flag, load_job refuses such a job."""
    if allowed:
        _SETTINGS[:] = [replace(_settings(), trust_remote_code=True)]


_COLUMN_HELP = "by header name, or 0-based position in a file without a header line (default: detected)"


@app.command(name="init")
def init_command(
    data_file: Path = typer.Argument(..., help="Your data file: csv, tsv, jsonl or parquet (csv, tsv and jsonl may be gzipped)."),
    task: Optional[str] = typer.Option(
        None, "--task", help="text_classification, contrastive_embedding or sparse_encoder (default: what the data suggests)."
    ),
    text_column: Optional[str] = typer.Option(None, "--text-column", help=f"The column of texts to classify, {_COLUMN_HELP}."),
    label_column: Optional[str] = typer.Option(None, "--label-column", help=f"The column of labels, {_COLUMN_HELP}."),
    query_column: Optional[str] = typer.Option(None, "--query-column", help=f"Pairs: the column of queries, {_COLUMN_HELP}."),
    passage_column: Optional[str] = typer.Option(None, "--passage-column", help=f"Pairs: the column of passages, {_COLUMN_HELP}."),
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


@app.command()
def validate(
    paths: List[Path] = typer.Argument(..., help="Job files (jobs/*.yaml) and/or search-space files."),
    set_: List[str] = typer.Option([], "--set", help="Override a job key: dotted.key=value (YAML value)."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help=_TRUST_HELP),
) -> None:
    """Check job and search-space files without starting anything; exit 2 listing every problem."""
    from finesweep.config import load_job, load_space_file

    _trust_remote_code(trust_remote_code)

    problems: list[str] = []
    for path in paths:
        try:
            if _is_space_file(path):
                load_space_file(path)
            else:
                load_job(path, set_, _settings())
            typer.echo(safe_for_console(f"ok: {path}"))
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)


def _is_space_file(path: Path) -> bool:
    """A search-space file has a top-level ``parameters`` key and no ``dataset``."""
    from finesweep.config.loader import parse_yaml_text, read_limited_text

    try:
        # the same limits as loading (regular files only, 1 MiB): a FIFO must not block us here
        data = parse_yaml_text(read_limited_text(path, str(path)))
    except Exception:  # noqa: BLE001 - the job loader reports unreadable files properly
        return False
    return isinstance(data, dict) and "parameters" in data and "dataset" not in data


@app.command()
def sweep(
    job_file: Path = typer.Argument(..., help="The job file, e.g. jobs/quickstart.yaml."),
    set_: List[str] = typer.Option([], "--set", help="Override a job key: dotted.key=value (YAML value)."),
    name: Optional[str] = typer.Option(None, "--name", help="Sweep name (default: <job name>-<UTC time>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted sweep of this name."),
    more: int = typer.Option(
        0, "--more", min=0, max=100_000, help="With --resume: run this many more trials on a sweep that has ended."
    ),
    warm_start: List[str] = typer.Option(
        [], "--warm-start", help="Start the searcher from this earlier sweep's trials (repeatable; adds to search.warm_start)."
    ),
    verbose: bool = typer.Option(
        False, "--verbose", help="Also show Ray's trial table and the workers' own output (the job's `verbose: 2`)."
    ),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help=_TRUST_HELP),
) -> None:
    """Run a hyperparameter sweep: Optuna/grid search, ASHA, Ray Train trials, MLflow runs."""
    from finesweep.config import load_job

    _trust_remote_code(trust_remote_code)

    _check_names(("--name", name), *(("--warm-start", source) for source in warm_start))
    if more and not resume:
        raise FinesweepError(f"--more {more}: extends an existing sweep; add --resume and its --name")
    if more and name is None:
        raise FinesweepError(f"--more {more}: name the sweep to extend with --name")
    loaded = load_job(job_file, set_, _settings())
    level = max(loaded.job.verbose, 2) if verbose else loaded.job.verbose
    if level < 2:
        _quiet_libraries()
    from finesweep.tracking.leaderboard import format_table, leaderboard, significant
    from finesweep.tuning.sweep import SweepOptions, run_sweep

    options = SweepOptions(resume=resume, more=more, warm_start=tuple(warm_start), verbose=level,
                           show_tracebacks=_state["debug"])  # fmt: skip
    summary = run_sweep(loaded, name=name, options=options, settings=_settings())
    board = summary.board or leaderboard(summary.tracking_uri, summary.name, include_pruned=True)
    typer.echo("")
    typer.echo(safe_for_console(f"Leaderboard for sweep {summary.name!r} ({board.describe()}):"))
    typer.echo(safe_lines(format_table(board.table)))
    typer.echo("")
    typer.echo(
        f"{len(summary.statuses)} trials: {summary.count('completed')} completed, {summary.count('pruned')} "
        f"stopped early by ASHA, {summary.count('failed')} failed; wall time {summary.wall_time_s:.0f} s"
    )
    if summary.ended_by != "trials":
        typer.echo(f"the sweep stopped starting trials when its {summary.ended_by} was spent "
                   f"(add trials with --name {summary.name} --resume --more K)")  # fmt: skip
    if summary.objective.constraints:
        typer.echo(f"{summary.infeasible} completed trial(s) break a constraint "
                   f"({', '.join(c.text for c in summary.objective.constraints)})")  # fmt: skip
    if summary.objective.multi:
        typer.echo(f"Pareto front: {len(summary.front)} trial(s): {', '.join(summary.front) or '-'}")
    elif summary.best_trial_id:
        primary = summary.objective.primary.metric
        typer.echo(f"best trial {summary.best_trial_id}: {primary} = {significant(summary.best_value)}")
    _echo_baselines(board)
    if summary.mean_time_to_first_step_s is not None:
        typer.echo(
            f"seconds from trial start to first training step: median {summary.median_time_to_first_step_s:.1f}, "
            f"mean {summary.mean_time_to_first_step_s:.1f}"
        )
    if summary.startup:
        phases = ", ".join(f"{k.removeprefix('startup_').removesuffix('_s')} {v:.1f}" for k, v in summary.startup.items())
        typer.echo(f"  of which (mean seconds): {phases}")
    if not summary.resources_released:
        typer.echo(f"warning: resources still held after the sweep: {summary.leaked}", err=True)
    typer.echo(safe_for_console(f"MLflow: {summary.tracking_uri} (parent run {summary.parent_run_id})"))
    if summary.experiment_id:
        typer.echo(safe_for_console(f"MLflow UI: {_ui_link(summary.tracking_uri, summary.experiment_id)}"))
    if summary.verdict:  # the summary's last line (also the parent run's finesweep.verdict tag)
        typer.echo(safe_for_console(summary.verdict))
    _report_failures(summary)


@app.command()
def train(
    job_file: Path = typer.Argument(..., help="The job file, e.g. jobs/quickstart.yaml."),
    set_: List[str] = typer.Option([], "--set", help="Override a job key: dotted.key=value (YAML value), e.g. train.learning_rate=1e-3."),
    output: Optional[Path] = typer.Option(None, "--output", help="Where the model folder goes (default: ./<job name>-model); a new or empty folder."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace --output when it is a model folder finesweep train wrote (never any other folder)."),
    no_tracking: bool = typer.Option(False, "--no-tracking", help="Record nothing in MLflow."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help=_TRUST_HELP),
) -> None:
    """Train one configuration (the job's `train:` values) in this process, without Ray: for
    debugging a task with a breakpoint, or a quick check on one machine."""
    from finesweep.config import load_job
    from finesweep.files import check_output_folder
    from finesweep.tuning.train import train_one

    _trust_remote_code(trust_remote_code)

    loaded = load_job(job_file, set_, _settings())
    target = output or Path(f"{loaded.name}-model")
    # where the folder goes is checked before the data is read or a model loads (train_one checks
    # what an existing folder holds; this, that a missing one can be created at all)
    check_output_folder(target, "--output")
    if not no_tracking:
        # the store a sweep's preflight checks, checked as it is: a server that does not answer is
        # one line before minutes of training, not an MlflowException after them
        from finesweep.tracking.store import check_reachable, resolve_tracking_uri

        check_reachable(resolve_tracking_uri(loaded.job.tracking.uri, _settings()))
    result = train_one(loaded, target, tracking=not no_tracking, overwrite=overwrite, settings=_settings())
    from finesweep.tasks import get_task

    catalog = get_task(loaded.job.task).metrics
    held = [catalog.held_out(goal.metric) for goal in loaded.objective.goals]
    shown = ", ".join(f"{name} {result.final[name]:.4g}" for name in held if name in result.final)
    typer.echo(safe_for_console(f"held-out test split: {shown}" if shown else "no test figures"))


def _ui_link(tracking_uri: str, experiment_id: str) -> str:
    """Where the sweep's runs table opens in MLflow's UI, in its Model training view (MLflow 3 opens
    experiments in its GenAI view; the `workflowType` URL parameter is the UI's own switch)."""
    page = f"#/experiments/{experiment_id}/runs?workflowType=machine_learning"
    if tracking_uri.startswith(("http://", "https://")):
        return f"{tracking_uri.rstrip('/')}/{page}"
    return f"`mlflow ui --backend-store-uri {tracking_uri} --port 5000`, then http://127.0.0.1:5000/{page}"


def _report_failures(summary: Any) -> None:
    """Name each failed trial's error; a full disk is the user's to fix (exit 2), other failures exit 1."""
    from finesweep.tuning.sweep import mentions_no_space, storage_full_message

    from finesweep.tracking.failure import OOM_ADVICE, failure_counts

    for trial_id, error in sorted(summary.errors.items())[:10]:
        typer.echo(safe_for_console(f"trial {trial_id} failed: {error}"), err=True)
    if not summary.count("failed"):
        return
    counts = failure_counts(summary.errors.values())  # "2 trials failed: out of memory (2)"
    typer.echo(counts + (f"; to fit: {OOM_ADVICE}" if "out of memory (" in counts else ""), err=True)
    if any(mentions_no_space(error) for error in summary.errors.values()):
        raise SweepError(storage_full_message(Path(summary.storage_path)))
    raise typer.Exit(1)


def _check_names(*named: tuple[str, str | None]) -> None:
    """Refuse names that would escape a folder or break a query (one rule for every name)."""
    from finesweep.config.names import name_problem

    problems = [p for option, value in named if value is not None for p in [name_problem(value, option)] if p]
    if problems:
        raise ConfigError(problems)


def _check_constraints(constraints: list[str]) -> None:
    """``--constraint`` values: ``METRIC OP NUMBER`` each (the job file's grammar), none on a
    ``test_*`` metric, refused together before the store is opened."""
    from finesweep.objective.constraints import promotion_constraint_problems

    problems = promotion_constraint_problems(constraints)
    if problems:
        raise ConfigError(problems)


def _store(tracking_uri: str | None, must_exist: bool = True) -> str:
    """The tracking URI a command uses, checked (reachable, MLflow, usable) before anything else runs.

    Read-only commands never create a store: ``leaderboard`` in an empty folder says there is none
    instead of leaving a fresh ``./mlflow.db`` behind.
    """
    from finesweep.tracking.store import preflight, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri, _settings())
    preflight(uri, must_exist=must_exist)
    return uri


_TRACKING_HELP = "MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///./mlflow.db)."


@app.command(name="leaderboard")
def leaderboard_command(
    sweep: str = typer.Option(..., "--sweep", help="The sweep's name."),
    top: Optional[int] = typer.Option(None, "--top", min=1, help="Show the best K trials."),
    metric: Optional[str] = typer.Option(None, "--metric", help="Rank by this metric (default: the sweep's)."),
    include_pruned: bool = typer.Option(False, "--include-pruned", help="Also list pruned and failed trials."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON records instead of a table."),
    output: Optional[Path] = typer.Option(None, "--output", help="Also write the table to FILE (.csv or .json)."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=_TRACKING_HELP),
) -> None:
    """Rank a sweep's trials by its metric, read from MLflow."""
    _check_names(("--sweep", sweep))
    if output is not None and output.suffix.lower() not in (".csv", ".json"):
        raise FinesweepError(f"--output {output}: use a .csv or .json file name")
    from finesweep.tracking.leaderboard import format_table, leaderboard

    board = leaderboard(_store(tracking_uri), sweep, metric, top, include_pruned)
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
        _echo_warnings(board.warnings)
        typer.echo(json.dumps(document, indent=2))
    else:
        typer.echo(safe_for_console(f"Sweep {sweep!r}, {board.describe()}:"))
        typer.echo(safe_lines(format_table(table)))
        _echo_baselines(board)


def _echo_warnings(warnings: list[str]) -> None:
    """What a command read but left out (a baseline tag of ``nan``), one ``warning:`` line each on stderr."""
    for line in dict.fromkeys(warnings):
        typer.echo(safe_for_console(f"warning: {line}"), err=True)


def _echo_baselines(board: Any) -> None:
    """The sweep's baselines on the ranking metric, with the top trial's gain over each (and a
    warning for each baseline tag left out)."""
    from finesweep.tracking.baselines import baseline_lines, best_trial_of

    _echo_warnings(board.warnings)
    lines = baseline_lines(board.baselines, board.goal, best_trial_of(board), board.compute)
    if lines:
        typer.echo("")
        typer.echo(safe_lines("\n".join(lines)))


@app.command(name="sweeps")
def sweeps_command(
    experiment: Optional[str] = typer.Option(None, "--experiment", help="Only sweeps of this MLflow experiment."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON records instead of a table."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=_TRACKING_HELP),
) -> None:
    """List the sweeps in a store, newest first: task, start, status, trial counts, best value."""
    uri = _store(tracking_uri)
    from finesweep.tracking.leaderboard import format_sweeps, sweeps_table

    warnings: list[str] = []
    table = sweeps_table(uri, experiment, warnings)
    _echo_warnings(warnings)
    if as_json:
        typer.echo(json.dumps(json.loads(table.to_json(orient="records")), indent=2))
    else:
        typer.echo(format_sweeps(table))


def _print_promotion(outcome) -> None:
    _echo_warnings(outcome.warnings)
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


@app.command(name="promote-best-model")
def promote_best_model_command(
    sweep: str = typer.Option(..., "--sweep", help="The sweep whose best completed trial is the challenger."),
    model_name: str = typer.Option(..., "--model-name", help="Registered model name in the MLflow registry."),
    metric: Optional[str] = typer.Option(
        None, "--metric", help="Pick the challenger by this metric, in its own direction (default: the sweep's primary goal)."
    ),
    constraint: List[str] = typer.Option(
        [], "--constraint", help='Only trials meeting this, e.g. "latency_ms_per_text <= 15" (repeatable).'
    ),
    min_delta: Optional[float] = typer.Option(
        None, "--min-delta", help="Smallest test-metric gain that promotes (default: the job's promotion.min_delta, else 0)."
    ),
    require_significant: Optional[bool] = typer.Option(
        None,
        "--require-significant/--no-require-significant",
        help="Require paired-bootstrap p <= alpha over the test split (default: the job's promotion section).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Evaluate and print; register and move nothing."),
    force: bool = typer.Option(False, "--force", help="Promote even if the challenger does not win."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=_TRACKING_HELP),
) -> None:
    """Register the sweep's best model; move the `champion` alias only if it beats the champion on the test split.

    Exits 3 when promotion is refused (the version stays registered, the aliases do not move).
    """
    _check_names(("--sweep", sweep), ("--model-name", model_name))
    _check_constraints(constraint)
    uri = _store(tracking_uri)
    from finesweep.errors import PromotionRefused
    from finesweep.promotion.registry import promote_best_model

    try:
        outcome = promote_best_model(uri, sweep, model_name, metric, min_delta, dry_run, force, require_significant,
                                     constraints=tuple(constraint))  # fmt: skip
    except PromotionRefused as refused:
        if refused.outcome is not None:
            _print_promotion(refused.outcome)
        raise
    _print_promotion(outcome)
    if dry_run:
        typer.echo(f"dry run: would promote ({outcome.reason}); nothing registered or moved")
    else:
        typer.echo(f"{model_name} v{outcome.challenger_version} is now @champion ({outcome.reason})")
        if outcome.champion_version and outcome.champion_version != outcome.challenger_version:
            typer.echo(f"{model_name} v{outcome.champion_version} is now @previous")


@app.command()
def report(
    sweep: str = typer.Option(..., "--sweep", help="The sweep's name."),
    output: Optional[str] = typer.Option(None, "--output", help="report.html (self-contained) or report.md."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=_TRACKING_HELP),
) -> None:
    """Write a sweep report: leaderboard, plots, best configuration, timings, ASHA's savings."""
    _check_names(("--sweep", sweep))
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
    uri = _store(tracking_uri)
    from finesweep.tracking.report import write_report

    try:
        path = write_report(uri, sweep, target)
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename and str(exc.filename) != str(target) else ""
        raise FinesweepError(f"--output {target}: cannot write{where} ({exc.strerror or exc})") from None
    typer.echo(printable_row(f"wrote {path}"))


@app.command()
def reproduce(
    run: str = typer.Option(..., "--run", help="The MLflow run id of the trial (a child run of a sweep)."),
    tolerance: float = typer.Option(1e-6, "--tolerance", min=0.0, help="Largest accepted difference of the sweep's metric."),
    verbose: bool = typer.Option(False, "--verbose", help="Also show Ray's trial table and the workers' own output."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=_TRACKING_HELP),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help=_TRUST_HELP),
) -> None:
    """Re-run one trial exactly (its values, the sweep's job, its data by checksum) and compare.

    Exits 3 when the reproduced value of the sweep's metric differs from the original's by more
    than --tolerance.
    """
    _trust_remote_code(trust_remote_code)
    uri = _store(tracking_uri)
    if not verbose:
        _quiet_libraries()
    from finesweep.tracking.leaderboard import significant
    from finesweep.tuning.reproduce import reproduce as run_reproduction

    with using(_settings()):  # reproduce loads the recorded job under the settings in use
        result = run_reproduction(uri, run, verbose=2 if verbose else 1, show_tracebacks=_state["debug"])
    typer.echo("")
    typer.echo(f"Trial run {run} reproduced as sweep {result.sweep!r} (run {result.run_id}), at epoch {result.epoch}:")
    width = max(len(name) for name, _, _ in result.rows)
    typer.echo(f"{'metric':<{width}}  {'original':>12}  {'reproduced':>12}  {'difference':>10}")
    for name, original, copy in result.rows:
        difference = abs(copy - original) if original is not None and copy is not None else None
        typer.echo(f"{name:<{width}}  {significant(original):>12}  {significant(copy):>12}  "
                   f"{'-' if difference is None else f'{difference:.2g}':>10}")  # fmt: skip
    difference = result.difference()
    if difference is None or difference > tolerance:
        typer.echo(f"{result.metric}: differs by {difference} (tolerance {tolerance:g})", err=True)
        raise typer.Exit(3)
    typer.echo(f"{result.metric}: reproduced within {tolerance:g} (difference {difference:.2g})")


@app.command()
def plan(
    job_file: Path = typer.Argument(..., help="The job file, e.g. jobs/quickstart.yaml."),
    cluster: str = typer.Option(
        "local",
        "--cluster",
        help="NxMgpu (N nodes of M GPUs, 8 CPUs per GPU), NxMgpu:Kcpu, NxKcpu, shapes joined by +, "
        "local (this machine), or a running cluster: auto, host:port, ray://host:port.",
    ),
    set_: List[str] = typer.Option([], "--set", help="Override a job key: dotted.key=value (YAML value)."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    gpu_memory: Optional[float] = typer.Option(
        None, "--gpu-memory", min=0.5, max=4096,
        help="Memory of one GPU in GiB (e.g. 80 for an H100): plan warns when a worker's share of a GPU cannot hold "
             "its estimated peak. Default on the local machine: its first CUDA device's.",
    ),  # fmt: skip
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help=_TRUST_HELP),
) -> None:
    """Preview a sweep on a cluster shape before anything is rented; starts nothing.

    Prints trials at once and per node, ASHA's rungs, the planned, expected and worst-case
    trial-epochs, a trial worker's estimated peak memory, and a warning for any resource that
    never fits or cannot hold that peak.
    """
    from finesweep.config import load_job
    from finesweep.tuning.preview import parse_cluster_spec, plan_job

    from finesweep.cluster.submit import needs_token_auth

    _trust_remote_code(trust_remote_code)
    spec = parse_cluster_spec(cluster)
    loaded = load_job(job_file, set_, _settings())  # the same checks as `validate`, before any cluster is asked
    if needs_token_auth(_settings()):  # a running cluster started here requires the token from clients
        os.environ["RAY_AUTH_MODE"] = "token"
    result = plan_job(loaded, spec, gpu_memory)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    for line in result.describe():
        typer.echo(safe_for_console(line))


@app.command()
def rollback(
    model_name: str = typer.Option(..., "--model-name", help="Registered model name."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=_TRACKING_HELP),
) -> None:
    """Move `champion` back to the `previous` version (and `previous` to the rolled-back one)."""
    _check_names(("--model-name", model_name))
    uri = _store(tracking_uri)
    from finesweep.promotion.registry import rollback as do_rollback

    champion, previous = do_rollback(uri, model_name)
    typer.echo(f"{model_name}: @champion -> v{champion}, @previous -> v{previous}")


def _read_texts(path: Path) -> list[str]:
    """Texts from a .txt (one per line), .csv/.tsv/.jsonl/.parquet (a `text` column) file; the text
    formats may be gzipped (``.csv.gz``)."""
    from finesweep.data.readers import format_from_name, read_frame

    fmt = format_from_name(path.name)
    if fmt is not None:
        frame = read_frame(path, fmt)
        if "text" not in frame.columns:
            raise FinesweepError(f"{path}: no 'text' column; columns are: {', '.join(map(str, frame.columns))}")
        return frame["text"].astype(str).tolist()
    from finesweep.data.readers import read_text_file

    return [line for line in read_text_file(path, "--input", "texts file").splitlines() if line.strip()]


def _check_device(device: str | None) -> None:
    """``cpu``, ``cuda`` or ``cuda:N`` (with that GPU present), ``mps``; refused before a model loads."""
    import re

    if device is None:
        return
    if not re.fullmatch(r"cpu|mps|cuda(:\d{1,3})?", device):
        raise FinesweepError(f"--device: must be cpu, cuda, cuda:N or mps (got {device!r})")
    if device.startswith("cuda"):
        import torch

        index = int(device.partition(":")[2] or 0)
        if not torch.cuda.is_available():
            raise FinesweepError(f"--device {device}: no CUDA GPU is available on this machine; use --device cpu")
        if index >= torch.cuda.device_count():
            raise FinesweepError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")


_MODEL_HELP = "models:/NAME@champion, models:/NAME/VERSION, models:/m-ID (a trial's logged model: its finesweep.model_uri tag) or a folder."


def _load_served(model: str, device: str | None, batch_size: int, tracking_uri: str | None) -> Any:
    """The model behind ``--model``, after checking ``--device`` (registry URIs need the store)."""
    _check_device(device)
    uri = _store(tracking_uri) if model.startswith(("models:/", "runs:/")) else tracking_uri
    from finesweep.serving.loading import load_model

    return load_model(model, device=device, batch_size=batch_size, tracking_uri=uri, settings=_settings())


@app.command()
def predict(
    texts: List[str] = typer.Argument(None, help="Texts to classify (or, with an encoder, to encode)."),
    model: str = typer.Option(..., "--model", help=_MODEL_HELP),
    input_file: Optional[Path] = typer.Option(None, "--input", help="Read texts from a file (.txt lines or a `text` column)."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines: every class score, or the whole vector."),
    kind: str = typer.Option("query", "--kind", help="Encoders: encode the texts as `query` or `passage`."),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:1 (default: cuda if available)."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=_TRACKING_HELP),
) -> None:
    """Classify texts with a trained classifier, or encode them with a trained encoder (dense
    vectors, or a sparse encoder's heaviest terms), offline, in batches."""
    items = list(texts or []) + (_read_texts(input_file) if input_file else [])
    if not items:
        raise FinesweepError("nothing to predict: give texts as arguments or --input FILE")
    if kind not in ("query", "passage"):
        raise FinesweepError(f"--kind: must be query or passage (got {kind!r})")
    served = _load_served(model, device, batch_size, tracking_uri)
    if hasattr(served, "encode"):
        _print_vectors(served.describe(items, kind=kind), as_json)
        return
    for result in served.predict(items):
        if as_json:
            typer.echo(json.dumps(result, ensure_ascii=False))
        else:
            # multi-label models: every label at or above the tuned threshold, comma-joined
            label = ",".join(result["labels"]) if "labels" in result else result["label"]
            typer.echo(printable_row(f"{label}\t{result['confidence']:.3f}\t{result['text']}"))


def _print_vectors(rows: list[dict[str, Any]], as_json: bool) -> None:
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


@app.command()
def search(
    queries: List[str] = typer.Argument(None, help="Queries to search for."),
    model: str = typer.Option(..., "--model", help=_MODEL_HELP + " An encoder (contrastive or sparse)."),
    corpus: Path = typer.Option(..., "--corpus", help="Passages: .txt (one per line) or .csv/.tsv/.jsonl/.parquet."),
    top_k: int = typer.Option(10, "--top-k", min=1, max=10000, help="Passages to show per query."),
    text_column: str = typer.Option("text", "--text-column", help="The corpus file's passage column."),
    id_column: str = typer.Option("id", "--id-column", help="The corpus file's id column (else the row number)."),
    chunk_chars: Optional[int] = typer.Option(
        None, "--chunk-chars", help="Cut documents into passages of N characters: a .txt file is one document, a table's rows are."
    ),
    chunk_tokens: Optional[int] = typer.Option(None, "--chunk-tokens", help="As --chunk-chars, in tokens of the model's tokenizer."),
    overlap: Optional[int] = typer.Option(None, "--overlap", help="Characters (or tokens) consecutive passages share (default 0)."),
    input_file: Optional[Path] = typer.Option(None, "--input", help="Read queries from a file (.txt lines or a `text` column)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON line per query with its ranked hits."),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:1 (default: cuda if available)."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=_TRACKING_HELP),
) -> None:
    """Rank a corpus for each query with a trained encoder (exact search; the corpus index is built
    once per model, corpus content and chunking, and cached). With --chunk-chars or --chunk-tokens,
    long documents are cut into overlapping passages, named <document>:<start>-<end> (characters)."""
    from finesweep.serving.chunking import check_passage_count, chunk_corpus, chunking_from_options, span_of
    from finesweep.serving.corpus import read_corpus

    items = list(queries or []) + (_read_texts(input_file) if input_file else [])
    if not items:
        raise FinesweepError("nothing to search for: give queries as arguments or --input FILE")
    chunking = chunking_from_options(chunk_chars, chunk_tokens, overlap)
    # a bad corpus is refused before a model loads
    passages = read_corpus(corpus, text_column, id_column, documents=chunking is not None)
    if chunking is not None:
        check_passage_count(passages, chunking)
    served = _load_served(model, device, batch_size, tracking_uri)
    if not hasattr(served, "search"):
        raise FinesweepError(f"--model {model}: a text classifier; search needs an encoder (contrastive_embedding or sparse_encoder)")
    if chunking is not None:
        passages = chunk_corpus(passages, chunking, getattr(served, "tokenizer", None))
    for query, hits in zip(items, served.search(items, passages, top_k=top_k)):
        if as_json:
            found = [{"id": h.id, "score": round(h.score, 6), "text": h.text} for h in hits]
            if chunking is not None:
                for hit in found:
                    hit["document"], hit["start"], hit["end"] = span_of(hit["id"])
            typer.echo(json.dumps({"query": query, "hits": found}, ensure_ascii=False))
            continue
        typer.echo(printable_row(f"query: {query}"))
        for rank, hit in enumerate(hits, start=1):
            text = hit.text if len(hit.text) <= 100 else hit.text[:99] + "…"
            typer.echo(printable_row(f"{rank:>4}  {hit.id}\t{hit.score:.4f}\t{text}"))


@app.command()
def submit(
    job_file: Path = typer.Argument(..., help="The job file, inside --working-dir."),
    address: Optional[str] = typer.Option(
        None, "--address", help="Ray Jobs server (default: $RAY_API_SERVER_ADDRESS, else http://127.0.0.1:8265)."
    ),
    working_dir: Path = typer.Option(Path("."), "--working-dir", help="Folder uploaded with the job."),
    set_: List[str] = typer.Option([], "--set", help="Override a job key: dotted.key=value (YAML value)."),
    name: Optional[str] = typer.Option(None, "--name", help="Sweep name (default: <job name>-<UTC time>)."),
    env: List[str] = typer.Option([], "--env", help="KEY=VALUE for the job's environment (repeatable)."),
    follow: bool = typer.Option(False, "--follow", help="Stream the job's logs; exit with its status."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help=_TRUST_HELP),
) -> None:
    """Validate a job here, then run `finesweep sweep` on a Ray cluster with Ray Jobs."""
    from finesweep.cluster.submit import DEFAULT_ADDRESS
    from finesweep.cluster.submit import submit as do_submit
    from finesweep.config import load_job
    from finesweep.tuning.sweep import default_sweep_name

    _check_names(("--name", name))
    _trust_remote_code(trust_remote_code)
    loaded = load_job(job_file, set_, _settings())  # refuse a broken job before it reaches the cluster
    extra = {}
    for item in env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise FinesweepError(f"--env {item}: expected KEY=VALUE")
        extra[key] = value
    from finesweep.cluster.submit import job_environment, job_location_problems, needs_token_auth

    named = loaded.job.storage_path if loaded.storage_path_named else None
    settings = _settings()
    job_env = job_environment(settings, extra)
    problems = job_location_problems(loaded.job.tracking.uri, named, job_env)
    if problems:  # the job runs in Ray's temporary copy of --working-dir: refused before submitting
        raise ConfigError(problems)
    if needs_token_auth(settings):
        os.environ["RAY_AUTH_MODE"] = "token"
    target = address or settings.jobs_server or DEFAULT_ADDRESS
    sweep_name = name or default_sweep_name(loaded)
    job_id, status = do_submit(job_file, target, working_dir, sweep_name, list(set_), job_env, follow,
                               settings.trust_remote_code)  # fmt: skip
    if status is not None:
        typer.echo(f"Ray job {job_id}: {status}")
        if status != "SUCCEEDED":
            raise typer.Exit(1)


@app.command()
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


def _quiet_libraries() -> None:
    """Below verbose 2: MLflow's INFO lines and Tune's newer console engine off (settings.QUIET_ENV)."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)


_INTERRUPTED = 130


def main() -> None:
    """Console entry point: run the app, mapping errors to exit codes 2 (user) and 1 (internal)."""
    # the defaults of the libraries finesweep drives (MLflow, Tune, tokenizers, cuBLAS), which read
    # them from the environment: settings.PROCESS_ENV says why each
    for key, value in PROCESS_ENV.items():
        os.environ.setdefault(key, value)
    try:
        # not standalone, so that our own errors below keep their codes; typer turns a Ctrl-C
        # (KeyboardInterrupt) into exit code 130, the shell's convention (128 + SIGINT)
        code = app(standalone_mode=False)
        if code == _INTERRUPTED:
            # a second Ctrl-C: the sweep has closed its parent run and Ray on its way out (their
            # ``finally`` blocks); the interpreter's own finalisation, with torch, Ray and MLflow
            # loaded, would take about 2 s more on 2 CPUs, which "stops at once" does not wait for
            typer.echo("interrupted", err=True)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(_INTERRUPTED)
        sys.exit(code if isinstance(code, int) else 0)  # as click's standalone mode: always SystemExit
    except typer.Abort:  # end of input at a prompt
        typer.echo("aborted", err=True)
        sys.exit(1)
    except typer.TyperException as exc:  # usage errors: click's message and code (2)
        exc.show()
        sys.exit(exc.exit_code)
    except FinesweepError as exc:
        if _state["debug"]:
            traceback.print_exc()
        lines = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
        prefix = "" if exc.exit_code == 130 else "error: "  # Ctrl-C is the user's choice, not an error
        for line in lines:
            typer.echo(safe_for_console(f"{prefix}{line}"), err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, exit 1
        if _state["debug"]:
            traceback.print_exc()
        message = f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)"
        typer.echo(safe_for_console(message), err=True)
        sys.exit(1)
