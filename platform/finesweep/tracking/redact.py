"""Keep secrets out of MLflow: values of secret-looking environment variables and URL passwords.

Everything finesweep writes as a param, a tag or a resolved-config artifact passes through
:func:`redact`, so a token that ends up in a job file (``tracking.uri: https://user:token@host``)
or in a dataset path is recorded as ``***``.
"""

from __future__ import annotations

import os
import re

MASK = "***"
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|AUTH", re.I)
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@/\s]+)@")
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
    """``text`` with URL passwords and secret environment values replaced by ``***``."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    for value in secret_values(environ):
        text = text.replace(value, MASK)
    return text
