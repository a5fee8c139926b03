"""Read a user's labelled text file (csv, tsv, jsonl, parquet) into a ``text``/``label`` frame."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from finesweep.errors import DataError
from finesweep.files import regular_file_problem

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


def infer_format(path: Path, declared: str | None) -> str:
    """The declared format, or the one the file suffix implies."""
    if declared:
        return declared
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: cannot tell the format from the suffix; set dataset.format to csv, tsv, jsonl or parquet")
    return fmt


def _check_utf8(path: Path) -> None:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raise DataError(f"{path}: gzip-compressed; decompress it first (gunzip {path.name})")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}: line {line}: not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})") from None


def _read_jsonl(path: Path) -> pd.DataFrame:
    """JSON lines, parsed line by line so that a bad line is named by its number."""
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise DataError(f"{path}: line {number}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}: line {number}: must be a JSON object (got a {type(row).__name__})")
            rows.append(row)
    return pd.DataFrame(rows)


def read_frame(path: Path, fmt: str) -> pd.DataFrame:
    """Read the whole file as strings; errors name the file and the offending line."""
    problem, _ = regular_file_problem(path, "dataset file")
    if problem is not None:
        raise DataError(f"{path}: {problem}")
    try:
        if fmt == "parquet":
            return pd.read_parquet(path)
        _check_utf8(path)
        if fmt == "jsonl":
            return _read_jsonl(path)
        sep = "\t" if fmt == "tsv" else ","
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8")
    except DataError:
        raise
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        detail = " ".join(str(exc).split())
        raise DataError(f"{path}: cannot parse as {fmt}: {detail}") from None


def _label_cell(value: object, separator: str) -> object:
    """A JSON list of labels (``["billing", "bug"]``) as the separator-joined text the label parsers read."""
    if isinstance(value, (list, tuple)):
        return separator.join(str(item) for item in value)
    return value


def to_text_label(
    frame: pd.DataFrame, path: Path, text_column: str, label_column: str, separator: str = ","
) -> pd.DataFrame:
    """Select and rename the text and label columns; reject missing columns and empty texts."""
    for key, column in (("dataset.text_column", text_column), ("dataset.label_column", label_column)):
        if column not in frame.columns:
            available = ", ".join(map(str, frame.columns))
            raise DataError(f"{path}: {key}: no column {column!r}; columns are: {available}")
    out = pd.DataFrame({"text": frame[text_column], "label": frame[label_column].map(lambda v: _label_cell(v, separator))})
    for column, key in (("text", text_column), ("label", label_column)):
        values = out[column]
        empty = values.isna() | (values.astype(str).str.strip() == "")
        if empty.any():
            row = int(empty.to_numpy().nonzero()[0][0])
            # +2: one for the header line, one because rows are 1-based for humans
            raise DataError(f"{path}: row {row + 2}: empty {key!r} ({int(empty.sum())} such rows)")
    out["text"] = out["text"].astype(str)
    out["label"] = out["label"].map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
    return out
