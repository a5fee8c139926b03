"""One line per pydantic error: ``source: dotted.key: message (got value)``, with the allowed keys
of the model at that place. The loader and the searcher checks both report through it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from finesweep.config.names import SAFE_NAME_RULE
from finesweep.config.space import DISTRIBUTIONS
from finesweep.redact import printable


def _dotted(prefix: str, loc: tuple[Any, ...]) -> str:
    parts = [prefix] if prefix else []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        else:
            parts.append(printable(str(item)))  # a key may hold a newline or an escape sequence
    return ".".join(parts) if parts else "(top level)"


def _model_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The nested model class at ``loc`` (following sub-models and distribution tags)."""
    current: Any = model
    for item in loc:
        if item in DISTRIBUTIONS and current is None:
            current = DISTRIBUTIONS[item]
            continue
        fields = getattr(current, "model_fields", None)
        if fields is None or item not in fields:
            return None
        annotation = fields[item].annotation
        current = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return current


def describe_error(error: dict[str, Any], model: type[BaseModel] | None) -> str:
    """One pydantic error as a sentence: what is wrong, the allowed keys or values, the value got."""
    kind, value = error["type"], error.get("input")
    if kind == "extra_forbidden":
        owner = _model_at(model, tuple(error["loc"][:-1]))
        fields = sorted(owner.model_fields) if owner is not None else None
        return "unknown key" + (f"; allowed: {', '.join(fields)}" if fields else "")
    if kind == "missing":
        return "missing required key"
    allowed_distributions = ", ".join(DISTRIBUTIONS)
    if kind == "union_tag_invalid":
        return f"unknown distribution (got {error['ctx']['tag']!r}); allowed: {allowed_distributions}"
    if kind == "union_tag_not_found":
        return f"missing key `distribution`; allowed: {allowed_distributions}"
    if kind == "string_pattern_mismatch" and tuple(error["loc"]) == ("name",):
        return f"{SAFE_NAME_RULE} (got {value!r})"
    if kind in ("too_short", "string_too_short"):
        return f"must not be empty (got {value!r})"
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    message = message.replace("Input should be", "must be")
    if isinstance(value, dict) or "(got " in message:
        return message  # a whole section adds nothing; the message already shows the value
    return f"{message} (got {value!r})"


def format_problems(source: str, prefix: str, exc: ValidationError, model: type[BaseModel] | None) -> list[str]:
    """One line per pydantic error: ``source: dotted.key: message (got value)``."""
    lines = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        if model is None and loc and loc[0] in DISTRIBUTIONS:
            loc = loc[1:]  # the union branch pydantic names first for a discriminated union
        lines.append(f"{source}: {_dotted(prefix, loc)}: {describe_error(error, model)}")
    return lines
