"""A corpus to search: passages with ids, read from a txt/csv/tsv/jsonl/parquet file, and its checksum."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finesweep.errors import DataError
from finesweep.files import regular_file_problem, sha256_of


@dataclass(frozen=True)
class Corpus:
    """Passages in file order, each with an id (the file's id column, else its 1-based row number).

    ``checksum`` identifies the content: the file's sha256 plus the columns read, or for passages
    given in memory the sha256 of the passages themselves. A search index is cached under it.
    """

    ids: tuple[str, ...]
    texts: tuple[str, ...]
    checksum: str

    def __len__(self) -> int:
        return len(self.texts)

    @classmethod
    def from_texts(cls, texts: list[str] | tuple[str, ...], ids: list[str] | None = None) -> "Corpus":
        """A corpus of passages held in memory (ids default to "1", "2", ...)."""
        texts = tuple(str(t) for t in texts)
        ids = tuple(str(i) for i in ids) if ids is not None else tuple(str(n) for n in range(1, len(texts) + 1))
        digest = hashlib.sha256()
        for identifier, text in zip(ids, texts):
            digest.update(identifier.encode() + b"\x00" + text.encode() + b"\x01")
        return cls(ids, texts, digest.hexdigest())


def read_corpus(path: Path, text_column: str = "text", id_column: str | None = "id", documents: bool = False) -> Corpus:
    """Read passages from ``path``: a .txt file holds one per line (blank lines skipped); a
    csv/tsv/jsonl/parquet file (text formats may be gzipped) a ``text_column`` and, when present,
    an ``id_column``. ``documents``: a .txt file is one document (its id the file's name), to be
    cut into passages. Raises DataError naming the file for anything unreadable."""
    from finesweep.data.readers import check_columns, first_empty, format_from_name, read_frame, read_text_file

    problem, _ = regular_file_problem(path, "corpus file")
    if problem is not None:
        raise DataError(f"{path}: {problem}")
    checksum = f"{sha256_of(path)}:{text_column}:{id_column}"
    if path.suffix.lower() == ".txt" and documents:
        text = read_text_file(path, "--corpus", "corpus file")
        if not text.strip():
            raise DataError(f"{path}: no text (the file is blank)")
        return Corpus((path.name,), (text,), checksum)
    if path.suffix.lower() == ".txt":
        lines = read_text_file(path, "--corpus", "corpus file").splitlines()
        rows = [(str(n), line.strip()) for n, line in enumerate(lines, start=1) if line.strip()]
        if not rows:
            raise DataError(f"{path}: no passages (every line is blank)")
        return Corpus(tuple(r[0] for r in rows), tuple(r[1] for r in rows), checksum)
    fmt = format_from_name(path.name)
    if fmt is None:
        raise DataError(f"{path}: --corpus must be .txt, .csv, .tsv, .jsonl or .parquet (text formats may end in .gz)")
    frame = read_frame(path, fmt, key="--corpus")
    check_columns(frame, path, {"--text-column": text_column})
    empty = first_empty(frame[text_column])
    if empty is not None:
        raise DataError(f"{path}: row {empty[0]}: the {text_column!r} column is empty ({empty[1]} empty passage(s) in all)")
    _refuse_non_text(path, frame[text_column], text_column)
    if id_column and id_column in frame.columns:
        ids = _ids(path, frame[id_column], id_column)
    else:
        ids = tuple(str(row) for row in frame.index)  # the editor's row number
    return Corpus(ids, tuple(frame[text_column].astype(str)), checksum)


def _refuse_non_text(path: Path, column: Any, name: str) -> None:
    """A JSON line's number, list or object is not a passage: refused with its row, never str()-ed."""
    for row, value in column.items():
        if not isinstance(value, str):
            raise DataError(f"{path}: row {row}: the {name!r} field is a {type(value).__name__}, not text")


def _ids(path: Path, column: Any, name: str) -> tuple[str, ...]:
    """Each passage's id as text; a missing or empty id, and an id given twice, are refused with their rows."""
    import pandas as pd

    ids = []
    for row, value in column.items():
        if value is None or (isinstance(value, float) and pd.isna(value)) or not str(value).strip():
            raise DataError(f"{path}: row {row}: the {name!r} column is empty; every passage needs its own id")
        ids.append(str(value))
    rows: dict[str, list[Any]] = {}
    for row, identifier in zip(column.index, ids):
        rows.setdefault(identifier, []).append(row)
    repeated = [(identifier, where) for identifier, where in rows.items() if len(where) > 1]
    if repeated:
        identifier, where = repeated[0]
        more = f" ({len(repeated)} ids repeat in all)" if len(repeated) > 1 else ""
        raise DataError(f"{path}: id {identifier!r} appears in rows {', '.join(map(str, where[:5]))}; every passage "
                        f"needs its own id{more}")  # fmt: skip
    return tuple(ids)


def texts_from(model_input: Any) -> list[str]:
    """The texts an MLflow pyfunc model was given: a DataFrame's ``text`` column (else its first
    column), or any sequence of strings."""
    import pandas as pd

    if isinstance(model_input, pd.DataFrame):
        column = "text" if "text" in model_input.columns else model_input.columns[0]
        return model_input[column].astype(str).tolist()
    return [str(t) for t in model_input]
