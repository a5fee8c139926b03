"""The sweep's own console lines, secrets masked and control characters escaped."""

from __future__ import annotations


def say(message: str) -> None:
    """A finesweep line: ``finesweep: <message>``."""
    from finesweep.redact import safe_for_console

    print(safe_for_console(f"finesweep: {message}"), flush=True)


def echo(line: str) -> None:
    """A line as it is (a failed trial's traceback)."""
    from finesweep.redact import safe_for_console

    print(safe_for_console(line), flush=True)
