"""One safe-name rule for everything finesweep joins onto a path or puts in a query.

Sweep names become folders under ``storage_path``, experiment names become artifact folders under
the store's artifact root, and both are quoted inside MLflow search filters. A name that could
climb out of its folder (``../x``, ``a/b``), hide in a listing (a leading dot), break a filter
(a quote) or garble a terminal (control characters) is refused before anything starts.
"""

from __future__ import annotations

import re

from finesweep.redact import printable

SAFE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
SAFE_NAME_RULE = "must start with a letter or digit and hold only letters, digits, '_', '.' and '-' (at most 100)"
_SAFE_NAME = re.compile(SAFE_NAME_PATTERN)


def name_problem(value: str, key: str) -> str | None:
    """One line naming ``key`` when ``value`` breaks the safe-name rule, else None."""
    if _SAFE_NAME.fullmatch(value) and ".." not in value:
        return None
    rule = SAFE_NAME_RULE if ".." not in value or not _SAFE_NAME.fullmatch(value) else "must not contain '..'"
    return f"{key}: {rule} (got {printable(repr(value))})"
