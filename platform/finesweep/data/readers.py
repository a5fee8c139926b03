"""Read a user's labelled text file (csv, tsv, jsonl, parquet; text formats also gzip-compressed) into
a ``text``/``label`` frame.

Every frame :func:`read_frame` returns is indexed by the 1-based row number of each record as the
user's editor shows it: the header line is row 1 of a csv/tsv with a header, the first record is
row 1 of one without (``dataset.header: false``), blank lines count, and a jsonl record's row is
its line. Errors quote that number, so a user can go straight to the line. (A csv cell quoted
across several lines shifts the rows after it: the parser does not report lines.)

pandas is imported inside the readers: validating a job file imports this module for
:func:`format_from_name` and stays light.
"""

from __future__ import annotations

import codecs
import io
import json
import re
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from finesweep.errors import DataError
from finesweep.files import GZIP_SUFFIX, format_from_name, regular_file_problem

if TYPE_CHECKING:
    import pandas as pd

GZIP_MAGIC = b"\x1f\x8b"
# A gzip file may expand a thousandfold: stop decompressing here rather than exhaust memory.
MAX_DECOMPRESSED_BYTES = 1 << 30  # 1 GiB of text: beyond it, use parquet (read column by column)
_DEFLATE_MAX_RATIO = 1032  # the most deflate can inflate one compressed byte to (zlib's technical notes)
_GZIP_PIECE = 16 << 10  # compressed bytes per step: where a damaged file breaks off is known to about here
_LABEL_ID = re.compile(r"[0-9]+")


def infer_format(path: Path, declared: str | None) -> str:
    """The declared format, or the one the file suffix implies (the suffix before ``.gz``)."""
    if declared:
        return declared
    fmt = format_from_name(path.name)
    if fmt is None:
        raise DataError(f"{path}: cannot tell the format from the suffix; set dataset.format to csv, tsv, jsonl or parquet")
    return fmt


def is_gzip_name(path: Path) -> bool:
    """Whether the file is named as gzip-compressed: then it is decompressed while read."""
    return path.name.lower().endswith(GZIP_SUFFIX)


def _size(count: int) -> str:
    """A byte count for a message: ``4 GiB``, ``12 MiB`` or ``900 bytes``."""
    for unit, shift in (("GiB", 30), ("MiB", 20)):
        if count >= 1 << shift:
            return f"{count / (1 << shift):g} {unit}"
    return f"{count} bytes"


def _gunzip(path: Path, key: str) -> bytes:
    """The decompressed bytes of a ``.gz`` file, at most ``MAX_DECOMPRESSED_BYTES``.

    Streamed through zlib in small pieces rather than read with ``gzip.open``, so that a truncated
    or damaged file is named by the line of its decompressed text where reading broke off.
    Concatenated members (``cat a.gz b.gz``) are read in turn, as gunzip does.
    """
    with path.open("rb") as handle:
        if handle.read(len(GZIP_MAGIC)) != GZIP_MAGIC:
            raise DataError(f"{path}: {key}: not gzip-compressed, though named {GZIP_SUFFIX}; rename or compress it")
        # the trailer's ISIZE (RFC 1952: the last member's size mod 2**32) refuses an honest bomb at
        # once, before anything is decompressed. Deflate inflates at most about 1032:1, so a larger
        # claim is no size at all (a truncated or damaged file), and is left to the streaming below,
        # which also catches a forged trailer
        compressed = handle.seek(0, 2)
        handle.seek(-4, 2)
        claimed = int.from_bytes(handle.read(4), "little")
        if MAX_DECOMPRESSED_BYTES < claimed <= _DEFLATE_MAX_RATIO * compressed:
            raise DataError(f"{path}: {key}: decompresses to more than {_size(MAX_DECOMPRESSED_BYTES)}; "
                            "decompress it yourself and give the plain file")  # fmt: skip
        handle.seek(0)
        chunks: list[bytes] = []
        size = 0
        inflater = zlib.decompressobj(wbits=31)  # 31: gzip header and trailer (CRC-32, length) checked

        def broken(reason: str) -> DataError:
            line = sum(chunk.count(b"\n") for chunk in chunks) + 1
            if reason == "incorrect data check":  # the CRC-32 at the end: the damage may be anywhere
                return DataError(
                    f"{path}: {key}: corrupt gzip file: its checksum does not match its content (damaged in storage or transfer?)"
                )
            return DataError(f"{path}: line {line}: {key}: corrupt gzip file ({reason}); reading breaks off in this line")

        while piece := handle.read(_GZIP_PIECE):
            while piece:
                try:
                    out = inflater.decompress(piece, MAX_DECOMPRESSED_BYTES + 1 - size)
                except zlib.error as exc:
                    raise broken(str(exc).removeprefix("Error -3 while decompressing data: ")) from None
                chunks.append(out)
                size += len(out)
                if size > MAX_DECOMPRESSED_BYTES:
                    raise DataError(
                        f"{path}: {key}: decompresses to more than {_size(MAX_DECOMPRESSED_BYTES)}; "
                        "decompress it yourself and give the plain file"
                    )
                if inflater.eof:  # one member done: what is left starts the next one
                    piece = inflater.unused_data
                    inflater = zlib.decompressobj(wbits=31) if piece else inflater
                else:
                    piece = inflater.unconsumed_tail
    if not inflater.eof:
        raise broken("it ends before its end-of-stream marker: truncated?")
    return b"".join(chunks)


def _raw_bytes(path: Path, key: str) -> bytes:
    """The file's bytes, decompressed when it is named ``.gz``."""
    if is_gzip_name(path):
        return _gunzip(path, key)
    raw = path.read_bytes()
    if raw[:2] == GZIP_MAGIC:
        # explicit over clever: a name that says plain text and gzip bytes is a mix-up to point out
        raise DataError(f"{path}: gzip-compressed; decompress it first, or name it {path.name}{GZIP_SUFFIX}")
    return raw


MAX_LINE_CHARS = 1_000_000  # one text or row; a tokenizer given more aborts the process (a Rust allocation failure)


def read_text_file(path: Path, key: str, what: str = "file") -> str:
    """The UTF-8 text of a user's file, refused with its path (and the line, where one applies)
    when it is missing, a directory, a pipe or device, binary, not UTF-8, longer per line than
    ``MAX_LINE_CHARS``, or gzipped beyond ``MAX_DECOMPRESSED_BYTES``. ``key`` names the option or
    job key that gave the file; gzip is read when the name ends in ``.gz``."""
    problem, _ = regular_file_problem(path, what)
    if problem is not None:
        raise DataError(f"{path}: {key}: {problem}")
    raw = _raw_bytes(path, key)
    _refuse_binary(path, raw)
    text = _decode(path, raw)
    _refuse_long_lines(path, text)
    return text


def _refuse_binary(path: Path, raw: bytes) -> None:
    """A NUL byte never occurs in UTF-8 text: the file is binary (a model, an archive, an image)."""
    offset = raw.find(b"\x00", 0, 1 << 20)
    if offset >= 0:
        line = raw[:offset].count(b"\n") + 1
        raise DataError(f"{path}: line {line}: a binary file, not text (a NUL byte at offset {offset})")


def _refuse_long_lines(path: Path, text: str) -> None:
    if len(text) <= MAX_LINE_CHARS:
        return
    for number, line in enumerate(text.split("\n"), start=1):
        if len(line) > MAX_LINE_CHARS:
            raise DataError(f"{path}: line {number}: {len(line):,} characters, more than the {MAX_LINE_CHARS:,} "
                            "a text or row may hold")  # fmt: skip


def _decode(path: Path, raw: bytes) -> str:
    """UTF-8 text (a leading byte-order mark dropped); a bad byte is named by its line."""
    start = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    try:
        return raw[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = start + exc.start
        line = raw[:offset].count(b"\n") + 1
        raise DataError(f"{path}: line {line}: not UTF-8 (byte 0x{raw[offset]:02x} at offset {offset})") from None


def _read_jsonl(path: Path, text: str) -> pd.DataFrame:
    """JSON lines, parsed line by line so that a bad line is named by its number."""
    import pandas as pd

    rows, lines = [], []
    for number, line in enumerate(io.StringIO(text, newline=None), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{path}: line {number}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}: line {number}: must be a JSON object (got a {type(row).__name__})")
        rows.append(row)
        lines.append(number)
    return pd.DataFrame(rows, index=pd.Index(lines, dtype="int64"))


def _read_delimited(text: str, fmt: str, header: bool) -> pd.DataFrame:
    """csv/tsv cells as strings, indexed by row number; the header (when there is one) names the columns.

    The file is parsed without a header so that pandas fixes the column count by the first line:
    a later line with more cells is a parse error naming its line instead of silently turning the
    first column into the index. Blank lines are kept while parsing (they count as rows) and
    dropped after. tsv has no quoting (IANA text/tab-separated-values): a quote character is
    text, so an unbalanced quote in a comment cannot swallow the lines after it.
    """
    import csv

    import pandas as pd

    leading = text[: len(text) - len(text.lstrip("\r\n"))].count("\n")  # pandas fails on leading blank lines
    frame = pd.read_csv(
        io.StringIO(text), sep="\t" if fmt == "tsv" else ",", header=None, dtype=str, keep_default_na=False,
        skip_blank_lines=False, skiprows=leading, quoting=csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL,
    )  # fmt: skip
    frame.index = pd.RangeIndex(leading + 1, leading + 1 + len(frame))
    if header:
        names = frame.iloc[0].tolist()
        frame = frame.iloc[1:].set_axis(names, axis=1)
    return frame[~(frame == "").all(axis=1)]


def read_frame(path: Path, fmt: str, header: bool = True, key: str = "dataset.path") -> pd.DataFrame:
    """Read the whole file as strings, indexed by row number; errors name the file and the offending line.

    ``header=False`` (csv/tsv only) names the columns by their 0-based position. ``key`` is the
    job key that named the file, for errors about the file as a whole.
    """
    import pandas as pd

    problem, _ = regular_file_problem(path, "dataset file")
    if problem is not None:
        raise DataError(f"{path}: {problem}")
    if not header and fmt not in ("csv", "tsv"):
        raise DataError(f"{path}: dataset.header: false applies to csv and tsv files; a {fmt} file names its fields itself")
    try:
        if fmt == "parquet":
            if is_gzip_name(path):
                raise DataError(f"{path}: parquet compresses its own columns; give the .parquet file itself, not gzipped")
            frame = pd.read_parquet(path)
            return frame.set_axis(pd.RangeIndex(1, len(frame) + 1), axis=0)
        raw = _raw_bytes(path, key)
        _refuse_binary(path, raw)
        text = _decode(path, raw)
        _refuse_long_lines(path, text)
        if fmt == "jsonl":
            return _read_jsonl(path, text)
        return _read_delimited(text, fmt, header)
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: no rows (the file is empty)") from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        detail = " ".join(str(exc).split())
        raise DataError(f"{path}: cannot parse as {fmt}: {detail}") from None


def column_label(column: int | str) -> str:
    """How a message names a column: ``'text'`` by header name, ``column 2`` by position."""
    return f"column {column}" if isinstance(column, int) else repr(column)


def check_columns(frame: pd.DataFrame, path: Path, columns: dict[str, int | str]) -> None:
    """Every ``{dotted key: column}`` must name exactly one column of ``frame``."""
    names = list(frame.columns)
    for key, column in columns.items():
        if isinstance(column, int):
            if column not in names:
                first = int(frame.index[0]) if len(frame) else 1
                raise DataError(
                    f"{path}: row {first}: {key}: position {column} is past the last column; the rows have "
                    f"{len(names)} column(s), positions 0-{len(names) - 1}"
                )
        elif column not in names:
            if all(isinstance(name, int) for name in names) and names:
                raise DataError(
                    f"{path}: {key}: with dataset.header: false give the column's 0-based position (got {column!r})"
                )
            available = ", ".join(map(str, names))
            raise DataError(f"{path}: {key}: no column {column!r}; columns are: {available}")
        if names.count(column) > 1:
            raise DataError(f"{path}: {key}: the header names column {column!r} {names.count(column)} times")


def first_empty(values: pd.Series) -> tuple[int, int] | None:
    """(row number of the first empty or missing cell, number of such cells), or None."""
    empty = values.isna() | (values.astype(str).str.strip() == "")
    if not empty.any():
        return None
    return int(values.index[empty.to_numpy().nonzero()[0][0]]), int(empty.sum())


def _label_cell(value: object, separator: str) -> object:
    """A JSON list of labels (``["billing", "bug"]``) as the separator-joined text the label parsers read."""
    if isinstance(value, (list, tuple)):
        return separator.join(str(item) for item in value)
    return value


def to_text_label(
    frame: pd.DataFrame, path: Path, text_column: int | str, label_column: int | str, separator: str = ","
) -> pd.DataFrame:
    """Select and rename the text and label columns; reject missing columns and empty texts.

    The row-number index of ``frame`` is kept, for later errors.
    """
    import pandas as pd

    check_columns(frame, path, {"dataset.text_column": text_column, "dataset.label_column": label_column})
    out = pd.DataFrame({"text": frame[text_column], "label": frame[label_column].map(lambda v: _label_cell(v, separator))})
    for role, column in (("text", text_column), ("label", label_column)):
        empty = first_empty(out[role])
        if empty is not None:
            row, count = empty
            rows = f"{count} such row{'s' if count > 1 else ''}"
            raise DataError(f"{path}: row {row}: empty {column_label(column)} (dataset.{role}_column; {rows})")
    out["text"] = out["text"].astype(str)
    out["label"] = out["label"].map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
    return out


def label_ids_to_names(
    labels: pd.Series, path: Path, label_names: list[str], multi_label: bool, separator: str
) -> pd.Series:
    """Label cells of integer ids into ``label_names`` (``dataset.label_ids: true``) as label names:
    one name per cell, or for multi-label a list of names per cell (``"0,6,10"``).

    Strict: every id must be a whole number in range; one bad id is one line naming its row.
    """
    pieces = labels.str.split(separator, regex=False) if multi_label else labels.map(lambda cell: [cell])
    ids = pieces.explode().str.strip()
    ids = ids[ids.notna() & (ids != "")]
    last = len(label_names) - 1
    not_id = ~ids.map(lambda value: bool(_LABEL_ID.fullmatch(value)))
    if not_id.any():
        row = int(not_id.idxmax())
        several = not multi_label and separator in labels[row]
        hint = "; for several labels per text set dataset.multi_label: true" if several else ""
        raise DataError(
            f"{path}: row {row}: dataset.label_column: {ids[not_id].iloc[0]!r} is not a label id; with dataset.label_ids: "
            f"true every label is a whole number 0-{last} into dataset.label_names (got {labels[row]!r}){hint}"
        )
    numbers = ids.map(int)
    outside = numbers > last
    if outside.any():
        row = int(outside.idxmax())
        raise DataError(
            f"{path}: row {row}: dataset.label_column: label id {numbers[outside].iloc[0]} is out of range; "
            f"dataset.label_names has {len(label_names)} names, ids 0-{last} (got {labels[row]!r})"
        )
    names = numbers.map(label_names.__getitem__)
    if not multi_label:
        return names.reindex(labels.index)
    grouped = names.groupby(level=0, sort=False).agg(list)
    return grouped.reindex(labels.index).map(lambda value: value if isinstance(value, list) else [])
