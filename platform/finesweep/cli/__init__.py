"""The ``finesweep`` command line, one module per command group.

- :mod:`._app`: the Typer app, the settings every command uses, and :func:`main`, which turns
  errors into exit codes (2: a problem you can fix, 1: an internal failure; ``--debug`` shows the
  traceback);
- :mod:`.options`: the option texts several commands share; :mod:`.checks`: the checks of option
  values made before anything runs; :mod:`.output`: the lines several commands print;
- the commands: :mod:`.setup_commands` (init, validate, plan, schema), :mod:`.run_commands`
  (sweep, train, reproduce, submit), :mod:`.record_commands` (leaderboard, sweeps, report),
  :mod:`.model_commands` (promote-best-model, rollback, predict, search).

Why the commands import finesweep's heavier modules (Ray, MLflow, torch behind them) inside
their bodies: ``finesweep --help`` and ``finesweep validate`` start in well under a second, and
importing this package imports none of them (tests/test_config_validation.py checks torch).
"""

# importing a command module registers its commands; this order is the order of `finesweep --help`'s groups
from finesweep.cli import setup_commands, run_commands, record_commands, model_commands  # noqa: F401, I001
from finesweep.cli._app import app, main

__all__ = ["app", "main"]
