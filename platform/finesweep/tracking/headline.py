"""A trial's error in one line, for its run's ``finesweep.error`` tag and the console."""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*")
HEADLINE_CHARS = 1000  # the longest headline kept (characters); the whole text goes to error.txt


def error_headline(text: str) -> str:
    """The exception a trial died of, in one line: the last ``SomeError: ...`` line of its
    traceback joined with the message lines after it (Ray wraps the cause on the next line)."""
    lines = [line.rstrip() for line in _ANSI.sub("", text).splitlines() if line.strip()]
    starts = [i for i, line in enumerate(lines) if _EXCEPTION_LINE.match(line)]
    if not starts:
        return lines[-1].strip() if lines else "unknown error"
    tail = [lines[starts[-1]]] + [line.strip() for line in lines[starts[-1] + 1 :] if not line.startswith(" ")]
    return " ".join(tail)[:HEADLINE_CHARS]
