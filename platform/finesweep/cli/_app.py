"""The Typer app, the settings of the running command, and the console entry point."""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import replace

import typer

from finesweep.errors import ConfigError, FinesweepError
from finesweep.redact import safe_for_console
from finesweep.settings import PROCESS_ENV, QUIET_ENV, Settings, using

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Hyperparameter sweeps for text-model fine-tuning on Ray Tune, Ray Train and MLflow.",
)
_state = {"debug": False}
_SETTINGS: list[Settings] = []  # the command's settings, built from the environment by the callback

# the groups of `finesweep --help`
SETUP = "Set up a job"
RUN = "Run"
RECORD = "Read the record"
MODELS = "Models"


@app.callback()
def _options(ctx: typer.Context, debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors.")) -> None:
    """Before every command: its settings, read from this process's environment once, and in use
    (``finesweep.settings.using``) until the command ends."""
    _state["debug"] = debug
    _SETTINGS[:] = [Settings.from_environment(os.environ)]
    ctx.with_resource(using(_SETTINGS[0]))


def current_settings() -> Settings:
    """The running command's settings (read from the environment by the app's callback)."""
    return _SETTINGS[0] if _SETTINGS else Settings.from_environment(os.environ)


def allow_remote_code(allowed: bool) -> None:
    """``--trust-remote-code``: the command's settings (``current_settings()``, which it passes down) allow
    a job's ``model.trust_remote_code``; without the flag, load_job refuses such a job."""
    if allowed:
        _SETTINGS[:] = [replace(current_settings(), trust_remote_code=True)]


def quiet_libraries() -> None:
    """Below verbose 2: MLflow's INFO lines and Tune's newer console engine off (settings.QUIET_ENV)."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)


def require_token_auth() -> None:
    """Make this process's Ray client send the cluster's token (a cluster started with token
    authentication refuses clients without it). The command line sets the variable Ray reads;
    library code never writes the environment."""
    os.environ["RAY_AUTH_MODE"] = "token"


def debug_enabled() -> bool:
    """Whether the command line asked for tracebacks (``--debug``)."""
    return _state["debug"]


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
        if debug_enabled():
            traceback.print_exc()
        lines = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
        prefix = "" if exc.exit_code == 130 else "error: "  # Ctrl-C is the user's choice, not an error
        for line in lines:
            typer.echo(safe_for_console(f"{prefix}{line}"), err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, exit 1
        if debug_enabled():
            traceback.print_exc()
        message = f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)"
        typer.echo(safe_for_console(message), err=True)
        sys.exit(1)

