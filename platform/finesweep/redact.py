"""One redaction for everything finesweep prints or records: secret environment values and URL
credentials become ``***``.

Every console line (``finesweep: ...`` progress, ``error:`` lines, the sweep's summary) and
everything written to MLflow as a param, a tag or a resolved-config artifact passes through
:func:`redact`, so a token that ends up in a job file (``tracking.uri: https://user:token@host``),
in a dataset path or in an exception message is shown and recorded as ``***``. Printed lines also
pass through :func:`printable`, which escapes control characters so that a key or value from a
job file can neither forge extra lines nor hide text with terminal escape sequences.
"""

from __future__ import annotations

import os
import re

MASK = "***"
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|AUTH", re.I)
# scheme://user:password@ ; the password may hold any character but '@', '/' and whitespace
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@/\s]+)@")
# scheme://token@ : userinfo without a password is how many services take a bare token
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<user>[^:/@\s]+)@")
# ?token=..., &api_key=..., ;sig=... : credentials carried in a URL's query (or matrix) parameters
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&;][\w.-]*(?:token|key|sig|signature|secret|password|passwd|pwd|auth|credential)[\w.-]*=)"
    r"(?P<value>[^&#;\s]+)",
    re.I,
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MIN_SECRET_CHARS = 6  # shorter values ("1", "true") are flags, and masking them would garble text


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names say they hold secrets, longest first."""
    env = _environ_snapshot() if environ is None else environ
    values = {value for name, value in env.items() if _SECRET_NAME.search(name) and len(value) >= _MIN_SECRET_CHARS}
    return sorted(values, key=len, reverse=True)


def _environ_snapshot() -> dict[str, str]:
    """A copy of ``os.environ`` that tolerates other threads changing it meanwhile.

    ``os.environ.items()`` reads each key after listing them, so a variable removed in between
    (MLflow's telemetry thread sets and unsets ``_MLFLOW_TELEMETRY_SESSION_ID``) raises KeyError.
    """
    for _ in range(10):
        try:
            names = list(os.environ)
        except RuntimeError:  # the mapping changed size while being listed: list it again
            continue
        values = {name: os.environ.get(name) for name in names}
        return {name: value for name, value in values.items() if value is not None}
    return dict(os.environ)  # still changing after ten tries: a last plain copy (never silently empty)


def redact(text: str, environ: dict[str, str] | None = None) -> str:
    """``text`` with URL credentials (``user:password@``, a bare ``token@``, ``?token=`` and
    the like in a query) and secret environment values replaced by ``***``."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _URL_USERINFO.sub(lambda m: m[0] if m["user"] == MASK else f"{m['scheme']}{MASK}@", text)
    text = _QUERY_SECRET.sub(lambda m: f"{m['key']}{MASK}", text)
    for value in secret_values(environ):
        text = text.replace(value, MASK)
    return text


def printable(text: str) -> str:
    """``text`` with control characters (newlines, ESC, ...) escaped as ``\\n``, ``\\x1b``: one
    line on the terminal, whatever a job file's keys or values hold."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def printable_row(text: str) -> str:
    """:func:`printable` that keeps tabs: a tab-separated output row (``predict``, ``search``)
    stays one row of columns, and no text in it reaches the terminal as a control sequence."""
    return "\t".join(printable(part) for part in text.split("\t"))


def safe_for_console(text: str) -> str:
    """What every printed line goes through: secrets masked, control characters escaped."""
    return printable(redact(text))


def safe_lines(text: str) -> str:
    """A block of lines (a table) as printed: each line through :func:`safe_for_console`."""
    return "\n".join(safe_for_console(line) for line in text.splitlines())
