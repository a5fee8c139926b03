"""The sweep's own console lines, secrets masked and control characters escaped."""

from __future__ import annotations

import sys


def _write_line(text: str) -> None:
    # one write with the newline in it: ``print`` writes the text and the newline separately, and a
    # Ctrl-C arriving between the two left the line open, so the CLI's "interrupted" ran into it
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def say(message: str) -> None:
    """A finesweep line: ``finesweep: <message>``."""
    from finesweep.redact import safe_for_console

    _write_line(safe_for_console(f"finesweep: {message}"))


def echo(line: str) -> None:
    """A line as it is (a failed trial's traceback)."""
    from finesweep.redact import safe_for_console

    _write_line(safe_for_console(line))
