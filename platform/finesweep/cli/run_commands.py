"""Commands that run trials: sweep, train, reproduce, and submit (a sweep on a Ray cluster)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from finesweep.cli._app import RUN, allow_remote_code, app, current_settings, debug_enabled, quiet_libraries, require_token_auth
from finesweep.cli.checks import check_names, checked_store
from finesweep.cli.options import JOB_HELP, SET_HELP, TRACKING_HELP, TRUST_HELP
from finesweep.cli.output import echo_baselines
from finesweep.errors import ConfigError, FinesweepError, SweepError
from finesweep.redact import safe_for_console, safe_lines
from finesweep.settings import using


@app.command(rich_help_panel=RUN)
def sweep(
    job_file: Path = typer.Argument(..., help=JOB_HELP),
    set_: List[str] = typer.Option([], "--set", help=SET_HELP),
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
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help=TRUST_HELP),
) -> None:
    """Run a hyperparameter sweep: Optuna/grid search, ASHA, Ray Train trials, MLflow runs."""
    from finesweep.config import load_job

    allow_remote_code(trust_remote_code)

    check_names(("--name", name), *(("--warm-start", source) for source in warm_start))
    if more and not resume:
        raise FinesweepError(f"--more {more}: extends an existing sweep; add --resume and its --name")
    if more and name is None:
        raise FinesweepError(f"--more {more}: name the sweep to extend with --name")
    loaded = load_job(job_file, set_, current_settings())
    level = max(loaded.job.verbose, 2) if verbose else loaded.job.verbose
    if level < 2:
        quiet_libraries()
    from finesweep.tracking.leaderboard import format_table, leaderboard, significant
    from finesweep.tuning.sweep import SweepOptions, run_sweep

    options = SweepOptions(resume=resume, more=more, warm_start=tuple(warm_start), verbose=level,
                           show_tracebacks=debug_enabled())  # fmt: skip
    summary = run_sweep(loaded, name=name, options=options, settings=current_settings())
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
    echo_baselines(board)
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


@app.command(rich_help_panel=RUN)
def train(
    job_file: Path = typer.Argument(..., help=JOB_HELP),
    set_: List[str] = typer.Option([], "--set", help="Override a job key: dotted.key=value (YAML value), e.g. train.learning_rate=1e-3."),
    output: Optional[Path] = typer.Option(None, "--output", help="Where the model folder goes (default: ./<job name>-model); a new or empty folder."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace --output when it is a model folder finesweep train wrote (never any other folder)."),
    no_tracking: bool = typer.Option(False, "--no-tracking", help="Record nothing in MLflow."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help=TRUST_HELP),
) -> None:
    """Train one configuration (the job's `train:` values) in this process, without Ray: for
    debugging a task with a breakpoint, or a quick check on one machine."""
    from finesweep.config import load_job
    from finesweep.files import check_output_folder
    from finesweep.tuning.commands.train import train_one

    allow_remote_code(trust_remote_code)

    loaded = load_job(job_file, set_, current_settings())
    target = output or Path(f"{loaded.name}-model")
    # where the folder goes is checked before the data is read or a model loads (train_one checks
    # what an existing folder holds; this, that a missing one can be created at all)
    check_output_folder(target, "--output")
    if not no_tracking:
        # the store a sweep's preflight checks, checked as it is: a server that does not answer is
        # one line before minutes of training, not an MlflowException after them
        from finesweep.tracking.store import check_reachable, resolve_tracking_uri

        check_reachable(resolve_tracking_uri(loaded.job.tracking.uri, current_settings()))
    result = train_one(loaded, target, tracking=not no_tracking, overwrite=overwrite, settings=current_settings())
    from finesweep.tasks import get_task

    catalog = get_task(loaded.job.task).metrics
    held = [catalog.held_out(goal.metric) for goal in loaded.objective.goals]
    shown = ", ".join(f"{name} {result.final[name]:.4g}" for name in held if name in result.final)
    typer.echo(safe_for_console(f"held-out test split: {shown}" if shown else "no test figures"))


@app.command(rich_help_panel=RUN)
def reproduce(
    run: str = typer.Option(..., "--run", help="The MLflow run id of the trial (a child run of a sweep)."),
    tolerance: float = typer.Option(1e-6, "--tolerance", min=0.0, help="Largest accepted difference of the sweep's metric."),
    verbose: bool = typer.Option(False, "--verbose", help="Also show Ray's trial table and the workers' own output."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=TRACKING_HELP),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help=TRUST_HELP),
) -> None:
    """Re-run one trial exactly (its values, the sweep's job, its data by checksum) and compare.

    Exits 3 when the reproduced value of the sweep's metric differs from the original's by more
    than --tolerance.
    """
    allow_remote_code(trust_remote_code)
    uri = checked_store(tracking_uri)
    if not verbose:
        quiet_libraries()
    from finesweep.tracking.leaderboard import significant
    from finesweep.tuning.commands.reproduce import reproduce as run_reproduction

    with using(current_settings()):  # reproduce loads the recorded job under the settings in use
        result = run_reproduction(uri, run, verbose=2 if verbose else 1, show_tracebacks=debug_enabled())
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


@app.command(rich_help_panel=RUN)
def submit(
    job_file: Path = typer.Argument(..., help="The job file, inside --working-dir."),
    address: Optional[str] = typer.Option(
        None, "--address", help="Ray Jobs server (default: $RAY_API_SERVER_ADDRESS, else http://127.0.0.1:8265)."
    ),
    working_dir: Path = typer.Option(Path("."), "--working-dir", help="Folder uploaded with the job."),
    set_: List[str] = typer.Option([], "--set", help=SET_HELP),
    name: Optional[str] = typer.Option(None, "--name", help="Sweep name (default: <job name>-<UTC time>)."),
    env: List[str] = typer.Option([], "--env", help="KEY=VALUE for the job's environment (repeatable)."),
    follow: bool = typer.Option(False, "--follow", help="Stream the job's logs; exit with its status."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help=TRUST_HELP),
) -> None:
    """Validate a job here, then run `finesweep sweep` on a Ray cluster with Ray Jobs."""
    from finesweep.cluster.submit import DEFAULT_ADDRESS
    from finesweep.cluster.submit import submit as do_submit
    from finesweep.config import load_job
    from finesweep.tuning.sweep import default_sweep_name

    check_names(("--name", name))
    allow_remote_code(trust_remote_code)
    loaded = load_job(job_file, set_, current_settings())  # refuse a broken job before it reaches the cluster
    extra = {}
    for item in env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise FinesweepError(f"--env {item}: expected KEY=VALUE")
        extra[key] = value
    from finesweep.cluster.submit import job_environment, job_location_problems, needs_token_auth

    named = loaded.job.storage_path if loaded.storage_path_named else None
    settings = current_settings()
    job_env = job_environment(settings, extra)
    problems = job_location_problems(loaded.job.tracking.uri, named, job_env)
    if problems:  # the job runs in Ray's temporary copy of --working-dir: refused before submitting
        raise ConfigError(problems)
    if needs_token_auth(settings):
        require_token_auth()
    target = address or settings.jobs_server or DEFAULT_ADDRESS
    sweep_name = name or default_sweep_name(loaded)
    job_id, status = do_submit(job_file, target, working_dir, sweep_name, list(set_), job_env, follow,
                               settings.trust_remote_code)  # fmt: skip
    if status is not None:
        typer.echo(f"Ray job {job_id}: {status}")
        if status != "SUCCEEDED":
            raise typer.Exit(1)


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
