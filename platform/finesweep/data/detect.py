"""What a user's data file holds, for ``finesweep init``: its format, header, text, label, query,
passage and group columns, its labels (single- or multi-label, ids or names) and their balance.

Detection reads the file with the same readers a sweep uses (:func:`~finesweep.data.readers.read_frame`),
so that whatever it finds, the sweep reads the same way. It never guesses silently: where the data
leaves a choice open (two text-like columns, several label-like ones, a first line that may or may
not be a header) the result holds the choice made, the alternatives and a note saying so, and
``finesweep init`` writes both into the job file. What cannot work (no text column, one class, an
empty label cell, a format the readers do not read) is refused with one :class:`DataError` line
naming the file.

The heuristics, in short:

- a *text* column is string-valued, holds words (long cells, or cells with spaces) and has more
  distinct values than a label column could have;
- a *label* column has few distinct values relative to the rows (at most ``label_limit(rows)``,
  one class per 5 rows in a small file) and short cells; it is *multi-label* when cells join labels
  with a separator: whole-number ids ("0,6,10,22", whatever share of the rows holds one alone), or
  names that also stand alone or recur; it holds *label ids* when every label is a whole number (a
  names file next to the data, such as GoEmotions' ``label.txt``, then names them); cells of joined
  ids are never text, and a column of row numbers (each value once) is never a label;
- a csv/tsv file has *no header* when its first line looks like the rows under it (a whole number
  above whole numbers, a known label above labels, a long text above texts);
- the user's ``--text-column``, ``--label-column``, ``--query-column`` and ``--passage-column``
  (:class:`ColumnOverrides`) replace the choice for their role, and lift the label limits;
- *pairs* are two text columns, the shorter the query and the longer the passage, when their names
  say so or no label column is left once the *group* columns (constant for each passage, such as an
  article title) are set aside.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Union

from finesweep.errors import ConfigError, DataError
from finesweep.files import format_from_name, sha256_of
from finesweep.data.readers import is_gzip_name, read_frame, read_text_file

if TYPE_CHECKING:
    import pandas as pd

Column = Union[int, str]  # a header name, or a 0-based position in a file without a header line

TEXT_CLASSIFICATION = "text_classification"
PAIR_TASKS = ("contrastive_embedding", "sparse_encoder")
TASKS = (TEXT_CLASSIFICATION, *PAIR_TASKS)

# Separators that may join several labels in one cell, most common first.
LABEL_SEPARATORS = (",", "|", ";", "/")
# Files next to the data that may name label ids, one name per line (GoEmotions ships label.txt).
NAMES_FILES = ("label.txt", "labels.txt", "label_names.txt", "classes.txt", "class_names.txt")
IMBALANCE_LIMIT = 3.0  # largest class over smallest above this: balance the training loss
MAX_LABEL_CHARS = 40  # label names are short; a column of long repeated cells is text
MIN_TEXT_CHARS = 15  # mean characters of a text column (or fewer, when most cells hold spaces)
SPLIT_NAMES = {"validation_path": ("validation", "valid", "val", "dev"), "test_path": ("test",)}

_WHOLE = re.compile(r"[0-9]+")
_NUMBERS = re.compile(r"-?[0-9]+(?:\s*,\s*-?[0-9]+)*")  # a whole number, or comma-joined whole numbers
# label ids: a whole number, or whole numbers joined by one of LABEL_SEPARATORS ("0,6,10,22")
_IDS = {separator: re.compile(rf"[0-9]+(?:\s*{re.escape(separator)}\s*[0-9]+)*") for separator in LABEL_SEPARATORS}
_THOUSANDS = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+")  # 12,345: one number written with a thousands separator
_SPACE = re.compile(r"\s")

# Column names that say what a column holds; a hint outranks the shape-based ranking.
_TEXT_HINTS = {"text", "texts", "sentence", "sentences", "comment", "comments", "review", "reviews", "tweet",
               "body", "content", "message", "document", "utterance", "description", "post", "headline"}  # fmt: skip
_LABEL_HINTS = {"label", "labels", "class", "classes", "category", "categories", "target", "tag", "tags",
                "intent", "sentiment", "emotion", "emotions", "y"}  # fmt: skip
_QUERY_HINTS = {"query", "queries", "question", "questions", "claim", "anchor", "q", "search"}
_PASSAGE_HINTS = {"passage", "passages", "context", "document", "doc", "answer", "positive", "abstract",
                  "paragraph", "text", "content", "body", "corpus"}  # fmt: skip
_GROUP_HINTS = {"group", "article", "title", "doc_id", "document_id", "article_id", "source", "topic", "url"}


SMALL_FILE_ROWS = 2000  # up to here a class may have as few as 5 rows (300 rows, 44 labels: KOTE's head)
MIN_ROWS = 10  # the fewest rows a job can split: 10% validation and 10% test take one row each


def label_limit(rows: int) -> int:
    """The most distinct values a label column of ``rows`` rows may hold: few relative to the rows
    (about one class per 20 rows, at least 10, at most 500; in a small file one per 5 rows, up to
    100), and never more than half the rows."""
    small = min(rows // 5, 100) if rows <= SMALL_FILE_ROWS else 0
    return max(2, min(500, max(10, rows // 20, small), rows // 2))


# ---------------------------------------------------------------------------------------------
# the result


@dataclass(frozen=True)
class ColumnOverrides:
    """Columns the user named (``--text-column`` and the like), as typed: a header name, or a
    0-based position in a file without a header line. None leaves the role to detection."""

    text: str | None = None
    label: str | None = None
    query: str | None = None
    passage: str | None = None

    def given(self) -> dict[str, str]:
        """The options given, by their command-line names."""
        named = {"--text-column": self.text, "--label-column": self.label, "--query-column": self.query,
                 "--passage-column": self.passage}  # fmt: skip
        return {option: value for option, value in named.items() if value is not None}


@dataclass(frozen=True)
class Alternative:
    """A column that could also fill a role, and why it could."""

    column: Column
    why: str


@dataclass(frozen=True)
class ColumnChoice:
    """The column chosen for a role (text, label, query, passage, group), why, and what else fits."""

    column: Column
    why: str
    alternatives: tuple[Alternative, ...] = ()


@dataclass(frozen=True)
class ClassCount:
    """Texts carrying one class (multi-label: one label)."""

    name: str
    count: int


@dataclass(frozen=True)
class Labels:
    """How the labels are written and how many texts each class has."""

    column: ColumnChoice | None  # None for a catalog dataset (it maps its own labels)
    multi_label: bool
    separator: str  # joins several labels in one cell (multi-label); "," otherwise, the schema default
    ids: bool  # every label is a whole number (an id into ``names`` when a names file names them)
    names: tuple[str, ...] | None  # the names of the ids from ``names_file``, or a catalog's label names

    @property
    def label_ids(self) -> bool:
        """Whether the job says ``label_ids: true``: whole-number labels and a names file naming them."""
        return self.ids and self.names_file is not None
    names_file: Path | None
    counts: tuple[ClassCount, ...]  # largest first
    multi_share: float = 0.0  # share of texts holding several labels

    @property
    def imbalance(self) -> float:
        """The largest class's count over the smallest's (1.0 when there are no counts)."""
        if not self.counts:
            return 1.0
        return self.counts[0].count / max(1, self.counts[-1].count)

    @property
    def imbalanced(self) -> bool:
        """Whether the largest class has more than ``IMBALANCE_LIMIT`` times the smallest's texts."""
        return self.imbalance > IMBALANCE_LIMIT


@dataclass(frozen=True)
class Pairs:
    """The (query, passage) pair columns, and the column grouping related pairs, if any."""

    query: ColumnChoice
    passage: ColumnChoice
    group: ColumnChoice | None
    group_why_none: str = ""  # why no group column was chosen


@dataclass(frozen=True)
class Lengths:
    """Characters per text of the column a model reads most (the text, else the passage)."""

    mean: float
    p95: int
    non_latin: float  # share of letters outside the Latin script (Hangul, Han, Cyrillic, ...)
    query_p95: int | None = None  # pairs: the queries' 95th percentile


@dataclass(frozen=True)
class Layout:
    """How the file is read: format, compression and header line."""

    format: str
    format_from_suffix: bool  # False: the suffix does not say, so dataset.format must
    gzip: bool
    header: bool | None  # None for jsonl and parquet, whose records name their fields
    header_why: str
    header_certain: bool
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class CatalogMatch:
    """The file is byte-identical to a file of a catalog dataset that the catalog reads itself."""

    name: str
    file_name: str
    folder: Path  # the dataset's folder: the file's own, or its parent for a file in a subfolder (raw/x.json)
    data_dir: Path | None  # where $FINESWEEP_DATA_DIR must point for the catalog to read these very files
    alternatives: tuple[str, ...]  # other catalog datasets built from the same file
    why_not_path: str  # why the file cannot be a path dataset


@dataclass(frozen=True)
class SplitFile:
    """A file next to the data that looks like its validation or test split (not read)."""

    key: str  # validation_path or test_path
    path: Path


@dataclass(frozen=True)
class Detection:
    """Everything ``finesweep init`` writes into a job file, found in one data file."""

    path: Path
    task: str
    suggested_task: str  # what the data suggests, whatever --task said
    rows: int
    layout: Layout | None  # None for a catalog dataset
    catalog: CatalogMatch | None
    text: ColumnChoice | None  # classification
    labels: Labels | None  # classification
    pairs: Pairs | None  # retrieval
    lengths: Lengths
    split_files: tuple[SplitFile, ...] = ()
    notes: tuple[str, ...] = ()  # ambiguities and choices a human should read
    other_task: str | None = None  # a second task the data fits (a `# or:` line), and why
    other_task_why: str = ""
    given: tuple[str, ...] = ()  # the command-line options that chose (--task, --label-column, ...)


# ---------------------------------------------------------------------------------------------
# one column's shape


@dataclass(frozen=True, eq=False)
class _Profile:
    """The shape of one column: its cells as the readers will see them, and a few statistics."""

    column: Column
    position: int
    cells: "pd.Series"  # strings; "" for a missing cell; lists joined by ``list_separator``
    kind: str  # "scalar", "list" (JSON lists of labels) or "other" (objects: never a text or label)
    list_separator: str
    empty: int
    first_empty_row: int | None
    distinct: int
    mean_chars: float
    spaced: float  # share of cells holding whitespace (words)
    numeric: float  # share of non-empty cells that are numbers
    id_like: float = 0.0  # share of non-empty cells that are label ids, alone or joined ("0,6,10")

    @property
    def name(self) -> str:
        """The column's name in lowercase, for name hints ("" for a position)."""
        return self.column.lower().strip() if isinstance(self.column, str) else ""


def _show(column: Column) -> str:
    """A column as messages name it: ``'tweet'`` by header name, ``column 2`` by position."""
    return f"column {column}" if isinstance(column, int) else repr(column)


def _scalar_text(value: object) -> str:
    """A cell as the readers turn it into text: missing is empty, 3.0 is "3"."""
    if value is None:
        return ""
    if isinstance(value, float):
        if value != value:  # NaN: a missing JSON field or parquet null
            return ""
        return str(int(value)) if value.is_integer() else str(value)
    return str(value)


def _profile(frame: "pd.DataFrame", column: Column, position: int) -> _Profile:
    import pandas as pd

    raw = frame[column]
    kind = "scalar"
    separator = ","
    if raw.dtype == object:
        types = set(raw.map(type))
        if dict in types or (list in types and not raw.map(_scalar_list_or_missing).all()):
            kind = "other"
        elif list in types:
            kind = "list"
            atoms = {str(item) for cell in raw if isinstance(cell, list) for item in cell}
            # the readers join a list with label_separator and split it again: pick one no label holds
            separator = next((sep for sep in LABEL_SEPARATORS if not any(sep in atom for atom in atoms)), ",")
    if kind == "list":
        cells = raw.map(lambda v: separator.join(str(i) for i in v) if isinstance(v, list) else _scalar_text(v))
    elif kind == "other":
        cells = pd.Series([""] * len(raw), index=raw.index)
    else:
        cells = raw.map(_scalar_text) if raw.dtype == object else raw.map(_scalar_text).astype(str)
    stripped = cells.str.strip()
    empty_mask = stripped == ""
    filled = cells[~empty_mask]
    numeric = float(pd.to_numeric(filled, errors="coerce").notna().mean()) if len(filled) else 0.0
    stripped_filled = filled.str.strip()
    id_like = max((float(stripped_filled.str.fullmatch(pattern).mean()) for pattern in _IDS.values()), default=0.0) \
        if len(filled) and kind == "scalar" else 0.0
    first_empty = int(cells.index[empty_mask.to_numpy().nonzero()[0][0]]) if empty_mask.any() else None
    return _Profile(
        column=column, position=position, cells=cells, kind=kind, list_separator=separator,
        empty=int(empty_mask.sum()), first_empty_row=first_empty, distinct=int(filled.nunique()),
        mean_chars=float(filled.str.len().mean()) if len(filled) else 0.0,
        spaced=float(filled.str.contains(_SPACE).mean()) if len(filled) else 0.0, numeric=numeric, id_like=id_like,
    )  # fmt: skip


def _scalar_list_or_missing(value: object) -> bool:
    if isinstance(value, list):
        return all(isinstance(item, (str, int, float, bool)) for item in value)
    return not isinstance(value, dict)


def _is_text(profile: _Profile, rows: int) -> bool:
    """String-valued words, with more distinct values than a label column could have; never
    numbers, nor label ids joined in one cell ("0,6,10,22,23,36" is 15 characters, not a text)."""
    if profile.kind != "scalar" or profile.numeric >= 0.5 or profile.id_like >= 0.9:
        return False
    wordy = profile.mean_chars >= MIN_TEXT_CHARS or (profile.mean_chars >= 5 and profile.spaced >= 0.5)
    return wordy and profile.distinct > label_limit(rows)


# ---------------------------------------------------------------------------------------------
# labels


@dataclass(frozen=True)
class _LabelCandidate:
    profile: _Profile
    hinted: bool
    classes: int
    multi_label: bool
    separator: str
    ids: bool
    counts: tuple[ClassCount, ...]
    multi_share: float

    @property
    def usable(self) -> bool:
        """At least two classes and no empty cell (the readers refuse empty labels)."""
        return self.classes >= 2 and self.profile.empty == 0

    def describe(self) -> str:
        """A few words for the job file: classes, multi-label share, ids."""
        kind = "labels" if self.multi_label else "classes"
        parts = [f"{self.classes} {kind}" + (" (whole numbers)" if self.ids else "")]
        if self.multi_label:
            parts.append(f"{self.multi_share:.0%} of rows hold several, joined by {self.separator!r}")
        if self.hinted:
            parts.append("its name says so")
        if self.profile.empty:
            parts.append(f"{self.profile.empty:,} empty cells")
        return "; ".join(parts)


def _counts(values: "pd.Series") -> tuple[ClassCount, ...]:
    counts = values.value_counts()
    return tuple(ClassCount(str(name), int(count)) for name, count in counts.items())


def _label_candidate(profile: _Profile, rows: int, forced: bool = False) -> _LabelCandidate | None:
    """The column as a label column, or None when it cannot be one (text, ids, objects).

    ``forced`` (the user named it with ``--label-column``) lifts the limits on the number of
    classes and their length: the user knows their labels.
    """
    import pandas as pd

    if profile.kind == "other" or profile.distinct == 0:
        return None
    filled = profile.cells[profile.cells.str.strip() != ""].str.strip()
    limit = 10**9 if forced else label_limit(rows)
    hinted = _hinted(profile, _LABEL_HINTS, ("label", "class", "category"))
    multi = _multi_label(filled, profile, forced)
    if multi is not None:
        separator, atoms, share = multi
        ids = bool(atoms.map(lambda a: bool(_WHOLE.fullmatch(a))).all())
        # texts carrying each label: a label twice in one cell counts once
        per_text = pd.DataFrame({"row": atoms.index, "label": atoms.to_numpy()}).drop_duplicates()["label"]
        return _LabelCandidate(profile, hinted, int(atoms.nunique()), True, separator, ids, _counts(per_text), share)
    if profile.distinct > limit or (profile.mean_chars > MAX_LABEL_CHARS and not forced):
        return None
    ids = bool(filled.map(lambda a: bool(_WHOLE.fullmatch(a))).all())
    # the readers compare single labels as written (ids are stripped): count them the same way
    values = filled if ids else profile.cells[profile.cells.str.strip() != ""]
    return _LabelCandidate(profile, hinted, profile.distinct, False, ",", ids, _counts(values), 0.0)


def _multi_label(filled: "pd.Series", profile: _Profile, forced: bool = False) -> tuple[str, "pd.Series", float] | None:
    """(separator, one row per label atom, share of multi-label cells) when cells join labels.

    Cells join labels when their pieces are label ids ("0,6,10", whatever share of the rows holds
    one id alone), or names that also stand alone or recur across cells. The labels are counted
    against the label occurrences, not the rows: 300 rows of 3 labels each may hold 44 labels.
    """
    if profile.kind == "list":
        atoms = filled.str.split(profile.list_separator, regex=False).explode().str.strip()
        atoms = atoms[atoms != ""]
        share = float((filled.str.contains(profile.list_separator, regex=False)).mean())
        limit = 10**9 if forced else label_limit(len(atoms))
        return (profile.list_separator, atoms, share) if 2 <= atoms.nunique() <= limit else None
    for separator in LABEL_SEPARATORS:
        joined = filled.str.contains(separator, regex=False)
        count = int(joined.sum())
        if count == 0 or (count < 3 and joined.mean() < 0.01 and not forced):  # a stray separator is no multi-label column
            continue
        atoms = filled.str.split(separator, regex=False).explode().str.strip()
        atoms = atoms[atoms != ""]
        limit = 10**9 if forced else label_limit(len(atoms))
        if not 2 <= atoms.nunique() <= limit or (atoms.str.len().mean() > MAX_LABEL_CHARS and not forced):
            continue
        if _joins_labels(filled, joined, atoms, separator) or forced:
            return separator, atoms, float(joined.mean())
    return None


def _joins_labels(filled: "pd.Series", joined: "pd.Series", atoms: "pd.Series", separator: str) -> bool:
    """Whether the joined cells are sets of labels: ids ("0,6,10", not one number written "12,345"),
    or pieces that mostly stand alone elsewhere, or that recur (each piece in 3 cells or more on
    average, and more distinct cells than pieces: combinations of a small vocabulary)."""
    if filled.str.fullmatch(_IDS[separator]).all():
        return not (separator == "," and filled[joined].str.fullmatch(_THOUSANDS).all())
    pieces = atoms[atoms.index.isin(filled.index[joined])]
    if not len(pieces):
        return False
    if pieces.isin(set(filled[~joined])).mean() >= 0.9:
        return True
    vocabulary = atoms.nunique()
    return len(atoms) >= 3 * vocabulary and filled.nunique() > vocabulary


def _hinted(profile: _Profile, names: set[str], parts: tuple[str, ...] = ()) -> bool:
    name = profile.name
    return bool(name) and (name in names or any(part in name for part in parts))


def _names_file(path: Path, candidate: _LabelCandidate) -> tuple[tuple[str, ...] | None, Path | None, list[str]]:
    """(names, the file they came from, notes) for label ids, from a names file next to the data."""
    stem = path.name.split(".")[0]
    found = [path.parent / name for name in (*NAMES_FILES, f"{stem}.labels.txt", f"{stem}_labels.txt")]
    found = [candidate_path for candidate_path in found if candidate_path.is_file()]
    if not found:
        return None, None, []
    source = found[0]
    notes = [f"label names: {source.name} chosen; {', '.join(p.name for p in found[1:])} also next to the data"] if found[1:] else []
    try:
        text = read_text_file(source, "label names file")
    except DataError as exc:
        return None, None, [*notes, f"label names: {exc}: label ids kept as class names"]
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    ids = sorted({int(count.name) for count in candidate.counts})
    if len(set(names)) != len(names) or len(names) < 2:
        return None, None, [*notes, f"label names: {source} repeats a name or holds fewer than 2: label ids kept as class names"]
    if ids[-1] >= len(names):
        return None, None, [*notes, f"label names: {source} names {len(names)} labels, but the data holds id {ids[-1]}: "
                                    "label ids kept as class names"]  # fmt: skip
    unused = sorted(set(range(len(names))) - set(ids))
    if unused and not candidate.multi_label:
        # a single-label class with no example cannot be trained (the sweep refuses it)
        shown = ", ".join(map(str, unused[:5])) + (" ..." if len(unused) > 5 else "")
        return None, None, [*notes, f"label names: {source} names {len(names)} labels, but ids {shown} never occur: "
                                    "label ids kept as class names"]  # fmt: skip
    return names, source, notes


# ---------------------------------------------------------------------------------------------
# reading and the header line


def _sniff_format(path: Path) -> tuple[str, str | None]:
    """(format, an unreadable separator) for a file whose suffix names no format (.txt, none)."""
    text = read_text_file(path, "DATA_FILE", "data file")
    lines = [line for line in text[: 1 << 20].splitlines() if line.strip()][:50]
    if not lines:
        raise DataError(f"{path}: no rows (the file is empty)")
    if lines[0].lstrip().startswith("{"):
        return "jsonl", None
    for separator in ("\t", ",", ";", "|"):
        quoting = csv.QUOTE_NONE if separator == "\t" else csv.QUOTE_MINIMAL
        widths = [len(row) for row in csv.reader(io.StringIO("\n".join(lines)), delimiter=separator, quoting=quoting)]
        common = max(set(widths), key=widths.count)
        if common >= 2 and widths.count(common) >= 0.9 * len(widths):
            if separator == "\t":
                return "tsv", None
            if separator == ",":
                return "csv", None
            return "csv", separator
    return "csv", None


def _first_line_is_header(frame: "pd.DataFrame") -> tuple[bool, bool, str]:
    """(header, certain, why) for a csv/tsv frame read without a header: does line 1 look like the rest?"""
    import pandas as pd

    if len(frame) < 2:
        return True, False, "the file has one line only"
    first, rest = frame.iloc[0], frame.iloc[1:]
    header = data = 0
    header_why = data_why = ""
    values = [str(v).strip() for v in first if str(v).strip()]
    if len(set(values)) < len(values):
        data += 2  # a header names each column once
        data_why = data_why or "it repeats a value, as data does and a header does not"
    limit = label_limit(len(rest))
    for column in frame.columns:
        cell = str(first[column]).strip()
        cells = rest[column].str.strip()
        cells = cells[cells != ""]
        if cells.empty or not cell:
            continue
        if cells.str.fullmatch(_NUMBERS).all() or pd.to_numeric(cells, errors="coerce").notna().all():
            numeric = bool(_NUMBERS.fullmatch(cell)) or pd.notna(pd.to_numeric(pd.Series([cell]), errors="coerce")[0])
            if numeric:
                data += 2
                data_why = data_why or f"its column {column} cell {cell!r} is a number like the cells below it"
            else:
                header += 2
                header_why = header_why or f"its column {column} cell {cell!r} heads a column of numbers"
        elif cells.nunique() <= limit:
            if cell in set(cells):
                data += 1
                data_why = data_why or f"its column {column} cell {cell!r} is a label that recurs below it"
            else:
                header += 1
                header_why = header_why or f"its column {column} cell {cell!r} is none of the labels below it"
        else:
            mean = cells.str.len().mean()
            if len(cell) < 0.25 * mean and not _SPACE.search(cell):
                header += 1
                header_why = header_why or f"its column {column} cell {cell!r} is a word above longer texts"
            elif len(cell) >= 0.5 * mean:
                data += 1
                data_why = data_why or f"its column {column} cell is a text like the ones below it"
    if header > data:
        return True, True, f"the first line names the columns: {header_why}"
    if data > header:
        return False, True, f"the first line is data: {data_why}"
    return True, False, "could not tell whether the first line is a header; the readers' default (a header) is kept"


def _read(path: Path, fmt: str) -> tuple["pd.DataFrame", bool | None, bool, str]:
    """(frame as a sweep reads it, header, header certain, why) with the header line detected."""
    if fmt not in ("csv", "tsv"):
        return read_frame(path, fmt, True, "DATA_FILE"), None, True, ""
    raw = read_frame(path, fmt, False, "DATA_FILE")
    header, certain, why = _first_line_is_header(raw)
    if not header:
        return raw, False, certain, why
    # what read_frame(header=True) does: the first line names the columns of the rows under it
    names = [str(name) for name in raw.iloc[0].tolist()]
    return raw.iloc[1:].set_axis(names, axis=1), True, certain, why


# ---------------------------------------------------------------------------------------------
# the catalog: a shipped file the readers cannot read as it is


def _catalog_match(path: Path, task: str | None, why: str) -> CatalogMatch | None:
    """The catalog dataset whose file this is, byte for byte, when its kind fits the task."""
    from finesweep.data.catalog import CATALOG

    entries = [(entry, remote) for entry in CATALOG.values() for remote in entry.files
               if Path(remote.name).name == path.name]  # fmt: skip
    if task is not None:
        wanted = "pairs" if task in PAIR_TASKS else "labels"
        entries = [(entry, remote) for entry, remote in entries if entry.kind == wanted]
    if not entries:
        return None
    digest = sha256_of(path)
    matched = [(entry, remote) for entry, remote in entries if remote.sha256 == digest]
    if not matched:
        return None
    entry, remote = matched[0]
    root = path.resolve().parents[len(Path(remote.name).parts) - 1]  # the dataset's folder
    # the catalog looks in $FINESWEEP_DATA_DIR/<its folder name>/: only a folder of that name is found there
    data_dir = root.parent if root.name == entry.files_folder else None
    return CatalogMatch(entry.name, remote.name, root, data_dir, tuple(e.name for e, _ in matched[1:]), why)


def _detect_catalog(path: Path, match: CatalogMatch, task: str | None) -> Detection:
    """A catalog dataset's labels or pairs, read by the catalog's own loader from the file's folder."""
    import pandas as pd

    from finesweep.data.catalog import CATALOG

    entry = CATALOG[match.name]
    files = {remote.name: match.folder / remote.name for remote in entry.files}
    notes = [f"catalog: the readers cannot read {path.name} as a table ({match.why_not_path.split('; ')[0]}), but it is the catalog "
             f"dataset {match.name}'s file {match.file_name} (the same sha256), which the catalog reads itself: the job "
             f"names dataset.name: {match.name}"]  # fmt: skip
    if match.alternatives:
        notes.append(f"the same file makes the catalog datasets {', '.join(match.alternatives)} too: see `# or:`")
    frames: dict[str, pd.DataFrame] = {}
    if all(p.is_file() for p in files.values()):
        frames = entry.load(files)
    suggested = "contrastive_embedding" if entry.kind == "pairs" else TEXT_CLASSIFICATION
    train = frames.get("train", frames.get("all"))
    rows = len(train) if train is not None else 0
    labels = None
    if entry.kind == "labels":
        counts: tuple[ClassCount, ...] = ()
        if train is not None:
            values = train["label"].astype(str)
            if entry.multi_label:
                values = values.str.split(",").explode().str.strip()
            counts = _counts(values)
        labels = Labels(None, entry.multi_label, ",", False, tuple(entry.label_names) or None, None, counts)
    texts = train["text" if entry.kind == "labels" else "passage"].astype(str) if train is not None else None
    queries = train["query"].astype(str) if train is not None and entry.kind == "pairs" else None
    return Detection(
        path=path, task=task or suggested, suggested_task=suggested, rows=rows, layout=None, catalog=match,
        text=None, labels=labels, pairs=None, lengths=_lengths(texts, queries), notes=tuple(notes),
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# detection


def _lengths(texts: "pd.Series | None", queries: "pd.Series | None" = None) -> Lengths:
    if texts is None or texts.empty:
        return Lengths(0.0, 0, 0.0)
    chars = texts.str.len()
    sample = "".join(texts.head(2000))
    letters = [c for c in sample if c.isalpha()]
    non_latin = sum(1 for c in letters if ord(c) > 0x24F) / len(letters) if letters else 0.0
    query_p95 = int(queries.str.len().quantile(0.95)) if queries is not None and not queries.empty else None
    return Lengths(float(chars.mean()), int(chars.quantile(0.95)), non_latin, query_p95)


def _ranked(items: Iterable[_Profile], key: Callable[[_Profile], tuple]) -> list[_Profile]:
    return sorted(items, key=key, reverse=True)


def _text_why(profile: _Profile) -> str:
    return f"text: mean {profile.mean_chars:.0f} characters, {profile.distinct:,} distinct"


def _choice(chosen: _Profile, why: str, others: list[tuple[_Profile, str]]) -> ColumnChoice:
    return ColumnChoice(chosen.column, why, tuple(Alternative(p.column, w) for p, w in others))


def _refuse_empty(path: Path, profile: _Profile, role: str) -> None:
    if profile.empty:
        rows = f"{profile.empty:,} such row{'s' if profile.empty > 1 else ''}"
        raise DataError(
            f"{path}: row {profile.first_empty_row}: {_show(profile.column)} ({role}) is empty ({rows}); the readers "
            "refuse empty cells there: fill them or drop those rows"
        )


def _split_files(path: Path) -> tuple[SplitFile, ...]:
    """Files next to a train file that look like its validation and test splits (same suffixes)."""
    stem, dot, suffixes = path.name.partition(".")
    if not stem.lower().startswith("train"):
        return ()
    found = []
    for key, names in SPLIT_NAMES.items():
        for name in names:
            candidate = path.parent / f"{stem.lower().replace('train', name, 1)}{dot}{suffixes}"
            if candidate.is_file() and candidate != path:
                found.append(SplitFile(key, candidate))
                break
    return tuple(found)


def _pairs(path: Path, texts: list[_Profile], profiles: list[_Profile], rows: int, notes: list[str],
           query_given: _Profile | None = None, passage_given: _Profile | None = None) -> Pairs:  # fmt: skip
    """Query and passage among the text columns (or as given), and a group column among the rest."""
    if query_given is not None and query_given is passage_given:
        raise ConfigError([f"{path}: --query-column and --passage-column name the same column ({_show(query_given.column)})"])
    query = query_given or next((p for p in texts if p is not passage_given and _hinted(p, _QUERY_HINTS)), None)
    passage = passage_given or next((p for p in texts if p is not query and _hinted(p, _PASSAGE_HINTS)), None)
    named = query is not None and passage is not None
    # what the names leave open goes by length: the shorter text asks, the longer one answers
    if passage is None:
        passage = max((p for p in texts if p is not query), key=lambda p: p.mean_chars)
    if query is None:
        query = min((p for p in texts if p is not passage), key=lambda p: p.mean_chars)
    query_why = ("given with --query-column" if query is query_given else "its name says query" if _hinted(query, _QUERY_HINTS)
                 else f"the shorter text: mean {query.mean_chars:.0f} characters")  # fmt: skip
    passage_why = ("given with --passage-column" if passage is passage_given
                   else "its name says passage" if _hinted(passage, _PASSAGE_HINTS)
                   else f"the longer text: mean {passage.mean_chars:.0f} characters")  # fmt: skip
    if not named:
        notes.append(f"pairs: {_show(query.column)} read as the query and {_show(passage.column)} as the passage "
                     "(their names do not both say so): swap them in dataset if it is the other way round")  # fmt: skip
    for profile, role in ((query, "the query column"), (passage, "the passage column")):
        _refuse_empty(path, profile, role)
    others = [p for p in texts if p is not query and p is not passage]
    query_choice = _choice(query, query_why, [(p, _text_why(p)) for p in others])
    passage_choice = _choice(passage, passage_why, [(p, _text_why(p)) for p in others])
    if others:
        notes.append(f"pairs: {len(texts)} columns hold text; {', '.join(_show(p.column) for p in others)}: see "
                     "`# or:` at dataset.query_column and dataset.passage_column")  # fmt: skip
    groups = _group_columns(passage, [p for p in profiles if p is not query and p is not passage], rows)
    if not groups:
        return Pairs(query_choice, passage_choice, None,
                     "no column groups the passages (an article or document id): pairs are split by passage")  # fmt: skip
    chosen = groups[0]
    why = f"{chosen.distinct:,} groups, each passage in one" + ("; its name says group" if _hinted(chosen, _GROUP_HINTS) else "")
    if groups[1:]:
        notes.append(f"group column: {_show(chosen.column)} chosen (the coarsest grouping); "
                     f"{', '.join(_show(p.column) for p in groups[1:])} also group the passages: see `# or:`")  # fmt: skip
    return Pairs(query_choice, passage_choice,
                 _choice(chosen, why, [(p, f"{p.distinct:,} groups") for p in groups[1:]]))  # fmt: skip


def _group_columns(passage: _Profile, candidates: list[_Profile], rows: int) -> list[_Profile]:
    """Columns constant for each passage (an article, a document), coarsest first: a group keeps
    related passages in one split. Without repeated passages only a column named as a group counts."""
    repeats = passage.distinct <= 0.9 * rows
    found = []
    for profile in candidates:
        if profile.kind != "scalar" or profile.empty or profile.distinct < 3 or profile.distinct >= passage.distinct:
            continue
        if not repeats and not _hinted(profile, _GROUP_HINTS):
            continue
        per_passage = profile.cells.groupby(passage.cells).nunique()
        if (per_passage <= 1).all():
            found.append(profile)
    return sorted(found, key=lambda p: (_hinted(p, _GROUP_HINTS), -p.distinct), reverse=True)


def detect(path: Path, task: str | None = None, columns: ColumnOverrides | None = None) -> Detection:
    """Detect the format, header, columns, labels or pairs, and balance of one data file.

    ``task`` forces the kind of data looked for (labels or pairs); None takes what the data
    suggests. ``columns`` names columns for their roles (``--label-column`` and the like), which
    detection then only checks. Raises :class:`DataError` (one line naming the file) for a file
    that cannot make a job, :class:`ConfigError` for an option that names no column of it.
    A catalog dataset's own file that the readers cannot read as it is (CARER's ``text;label``
    lines, KorQuAD's JSON document) is described as that catalog dataset instead.
    """
    if task is not None and task not in TASKS:
        raise ConfigError([f"--task: init writes jobs for {', '.join(TASKS)} (got {task!r})"])
    overrides = columns or ColumnOverrides()
    implied = _implied_task(task, overrides)
    try:
        return _detect_file(path, task, implied, overrides)
    except _ReadersRefuse as exc:
        # only a byte-identical catalog file is described as its dataset: never a guess
        match = _catalog_match(path, task, str(exc).removeprefix(f"{path}: ")) if path.is_file() else None
        if match is None:
            raise DataError(str(exc)) from None
        if overrides.given():
            raise ConfigError([f"{path}: {', '.join(overrides.given())}: the file is the catalog dataset {match.name}'s, "
                               "which maps its own columns; leave the column options out"]) from None  # fmt: skip
        return _detect_catalog(path, match, task)


def _implied_task(task: str | None, overrides: ColumnOverrides) -> str | None:
    """The kind of task the column options ask for (labels or pairs), refused when they mix
    both kinds or contradict ``--task``."""
    given = overrides.given()
    labelled = [o for o in given if o in ("--text-column", "--label-column")]
    paired = [o for o in given if o in ("--query-column", "--passage-column")]
    if labelled and paired:
        raise ConfigError([f"{' and '.join(labelled)} name the columns of labelled texts (text_classification), "
                           f"{' and '.join(paired)} those of pairs: give one kind"])  # fmt: skip
    implied = TEXT_CLASSIFICATION if labelled else PAIR_TASKS[0] if paired else None
    if task is not None and implied is not None and (task in PAIR_TASKS) != (implied in PAIR_TASKS):
        options = " and ".join(labelled or paired)
        raise ConfigError([f"--task {task}: {options} name{'s' if len(labelled or paired) == 1 else ''} the columns of "
                           f"{'pairs' if paired else 'labelled texts'}, which {task} does not read"])  # fmt: skip
    return implied


class _ReadersRefuse(DataError):
    """The readers cannot read the file as a table at all (not: the table holds no usable column)."""


def _read_table(path: Path) -> tuple["pd.DataFrame", str, bool, bool | None, bool, str]:
    """(frame, format, format from the suffix, header, header certain, why), or _ReadersRefuse."""
    fmt = format_from_name(path.name)
    from_suffix = fmt is not None
    try:
        if fmt is None:
            fmt, separator = _sniff_format(path)
            if separator is not None:
                raise DataError(
                    f"{path}: its lines are fields separated by {separator!r}, which the readers do not split (csv: "
                    "',', tsv: tab); convert it to tsv or csv (a text holding the separator must then be quoted)"
                )
        frame, header, header_certain, header_why = _read(path, fmt)
    except DataError as exc:
        raise _ReadersRefuse(str(exc)) from None
    return frame, fmt, from_suffix, header, header_certain, header_why


def _header_from_options(frame: "pd.DataFrame", header: bool | None, certain: bool, overrides: ColumnOverrides,
                         ) -> tuple["pd.DataFrame", bool | None, str] | None:  # fmt: skip
    """(frame, header, why) when the column options settle the header line the other way: a name
    they give is a cell of a first line read as data, or positions they give name no column of a
    first line that may not be a header (a certain header keeps its names: positions are refused)."""
    given = overrides.given()
    if header is False and len(frame) > 1:
        first = [str(v).strip() for v in frame.iloc[0].tolist()]
        named = next(((o, v) for o, v in given.items() if not v.isdigit() and v in first), None)
        if named is not None:
            return (frame.iloc[1:].set_axis(first, axis=1), True,
                    f"the first line names the columns: {named[0]} names its cell {named[1]!r}")  # fmt: skip
    if header is True and not certain and given and all(v.isdigit() and v not in frame.columns for v in given.values()):
        lines = frame.columns.to_frame().T.set_axis(range(frame.shape[1]), axis=1)
        raw = _stacked(lines, frame.set_axis(range(frame.shape[1]), axis=1))
        return raw, False, f"the first line is data: {', '.join(given)} give{'s' if len(given) == 1 else ''} 0-based positions"
    return None


def _stacked(first: "pd.DataFrame", rest: "pd.DataFrame") -> "pd.DataFrame":
    """``first`` above ``rest``, renumbered from 0 (the frame a headerless read gives)."""
    import pandas as pd

    return pd.concat([first.astype(str), rest], ignore_index=True)


def _resolve(path: Path, option: str, value: str, columns: tuple[Column, ...], header: bool | None) -> Column:
    """The column ``value`` names: a header name, or a 0-based position when the file has no header line."""
    if header is False:
        if value.isdigit() and int(value) < len(columns):
            return int(value)
        raise ConfigError([f"{path}: {option} {value!r}: the file has no header line, so a column is its 0-based "
                           f"position: 0 to {len(columns) - 1}"])  # fmt: skip
    if value in columns:
        return value
    shown = ", ".join(repr(str(c)) for c in columns[:20]) + (" ..." if len(columns) > 20 else "")
    named = " (the file has a header line: name a column, not its position)" if value.isdigit() else ""
    raise ConfigError([f"{path}: {option} {value!r}: no such column{named}; the columns are {shown}"])


def _too_few_rows(path: Path, rows: int, header: bool | None) -> None:
    """Refuse a file with fewer rows than a job can split, with its counts."""
    if rows >= MIN_ROWS:
        return
    if rows == 0 and header:
        raise DataError(f"{path}: one line and 0 rows under it (a file of one line is read as its header line); a job "
                        f"needs at least {MIN_ROWS} rows: 10% validation and 10% test take one each")  # fmt: skip
    if rows == 0:
        raise DataError(f"{path}: no rows (the file is empty)")
    raise DataError(f"{path}: {rows} row{'s' if rows > 1 else ''}: too few for a job, which needs at least {MIN_ROWS} "
                    "(10% validation and 10% test take one row each, and training the rest)")  # fmt: skip


def _detect_file(path: Path, task: str | None, implied: str | None, overrides: ColumnOverrides) -> Detection:
    frame, fmt, from_suffix, header, header_certain, header_why = _read_table(path)
    notes: list[str] = []
    flipped = _header_from_options(frame, header, header_certain, overrides) if fmt in ("csv", "tsv") else None
    if flipped is not None:
        frame, header, header_why = flipped
        header_certain = True
    rows = len(frame)
    _too_few_rows(path, rows, header)
    columns = tuple(frame.columns)
    named = {option: _resolve(path, option, value, columns, header) for option, value in overrides.given().items()}
    repeated = {c for c in columns if columns.count(c) > 1}
    profiles = [_profile(frame, c, i) for i, c in enumerate(columns) if c not in repeated]
    if repeated:
        notes.append(f"the header names {', '.join(map(_show, sorted(map(str, repeated))))} more than once: "
                     "those columns cannot be read by name and are left out")  # fmt: skip
    if not header_certain:
        notes.append(f"header: {header_why}: see `# or:` at dataset.header")
    layout = Layout(fmt, from_suffix, is_gzip_name(path), header, header_why, header_certain, columns)
    forced = {option: _named_profile(path, option, column, profiles) for option, column in named.items()}
    label_forced = forced.get("--label-column")
    texts = _ranked((p for p in profiles if _is_text(p, rows) and p is not label_forced),
                    key=lambda p: (_hinted(p, _TEXT_HINTS, ("text",)), p.empty == 0, p.mean_chars))  # fmt: skip
    if not texts and not {"--text-column", "--query-column", "--passage-column"} & forced.keys():
        shown = ", ".join(_show(c) for c in columns[:12]) + (" ..." if len(columns) > 12 else "")
        one_record = " (one record: a JSON document, not JSON lines?)" if fmt == "jsonl" and rows == 1 else ""
        raise DataError(
            f"{path}: no text column: no column holds words with many distinct values{one_record}; "
            f"columns: {shown}; name it with --text-column"
        )
    candidates = [c for c in (_label_candidate(p, rows) for p in profiles if p not in texts) if c is not None]
    suggested = _suggest_task(texts, candidates, profiles, rows) if texts else (implied or TEXT_CLASSIFICATION)
    chosen_task = task or implied or suggested
    given = tuple(o for o in ("--task", *named) if o != "--task" or task is not None)
    if chosen_task in PAIR_TASKS:
        return _pairs_detection(path, chosen_task, suggested, rows, layout, texts, profiles, candidates, forced, notes, given)
    text_forced = forced.get("--text-column")
    if text_forced is not None:
        texts = [text_forced, *(p for p in texts if p is not text_forced)]
    if label_forced is not None:
        candidates = [c for c in candidates if c.profile is not label_forced]
        chosen = _label_candidate(label_forced, rows, forced=True)
        if chosen is None:
            raise ConfigError([f"{path}: --label-column {_show(label_forced.column)}: holds objects or nothing, not labels"])
        candidates.insert(0, chosen)
    if not texts:
        raise DataError(f"{path}: no text column besides the label column; name it with --text-column")
    candidates = [c for c in candidates if c.profile is not texts[0]]
    text = _classification_text(path, texts, notes, text_forced is not None)
    labels = _classification_labels(path, candidates, profiles, texts, notes, rows, label_forced is not None)
    other, other_why = _other_task(chosen_task, suggested, texts, candidates)
    if suggested in PAIR_TASKS and chosen_task != suggested:
        notes.append("task: the data looks like (query, passage) pairs; it is read as labelled texts, as asked")
    elif len(texts) >= 2:
        notes.append("task: two columns hold text; --task contrastive_embedding would read them as (query, passage) pairs")
    lengths_source = next(p for p in profiles if p.column == text.column)
    return Detection(
        path=path, task=chosen_task, suggested_task=suggested, rows=rows, layout=layout, catalog=None, text=text,
        labels=labels, pairs=None, lengths=_lengths(lengths_source.cells), split_files=_split_files(path),
        notes=tuple(notes), other_task=other, other_task_why=other_why, given=given,
    )  # fmt: skip


def _named_profile(path: Path, option: str, column: Column, profiles: list[_Profile]) -> _Profile:
    """The profile of the column an option names; refused when it cannot hold text or labels."""
    profile = next((p for p in profiles if p.column == column), None)
    if profile is None:
        raise ConfigError([f"{path}: {option} {_show(column)}: the header names it more than once, so it cannot be read by name"])
    if profile.kind == "other":
        raise ConfigError([f"{path}: {option} {_show(column)}: holds objects (JSON objects or nested lists), not text or labels"])
    if option != "--label-column" and profile.kind != "scalar":
        raise ConfigError([f"{path}: {option} {_show(column)}: holds lists, not text"])
    return profile


def _other_task(chosen: str, suggested: str, texts: list[_Profile], candidates: list[_LabelCandidate]) -> tuple[str | None, str]:
    """A second task the data fits, for a `# or:` line, and what to run to get its columns."""
    if chosen != suggested:
        return suggested, "what the data suggests"
    if chosen == TEXT_CLASSIFICATION and len(texts) >= 2:
        return PAIR_TASKS[0], "two columns hold text: `finesweep init FILE --task contrastive_embedding` writes the pair columns"
    if chosen in PAIR_TASKS and any(c.usable for c in candidates):
        return TEXT_CLASSIFICATION, "a column holds labels: `finesweep init FILE --task text_classification` writes its columns"
    return None, ""


def _pairs_detection(path: Path, task: str, suggested: str, rows: int, layout: Layout, texts: list[_Profile],
                     profiles: list[_Profile], candidates: list[_LabelCandidate], forced: dict[str, _Profile],
                     notes: list[str], given: tuple[str, ...]) -> Detection:  # fmt: skip
    """The (query, passage) pairs of a file read for a retrieval task."""
    named = [forced[o] for o in ("--query-column", "--passage-column") if o in forced]
    texts = [*named, *(p for p in texts if p not in named)]
    if len(texts) < 2:
        shown = f" ({_show(texts[0].column)})" if texts else ""
        raise DataError(
            f"{path}: {task} needs (query, passage) pairs, two text columns; the file has {len(texts)}{shown}: name "
            "them with --query-column and --passage-column"
        )
    pairs = _pairs(path, texts, profiles, rows, notes, forced.get("--query-column"), forced.get("--passage-column"))
    if suggested != task and suggested == TEXT_CLASSIFICATION:
        notes.append(f"task: the data also has label columns; {task} reads it as pairs instead, as asked")
    query = next(p for p in profiles if p.column == pairs.query.column)
    passage = next(p for p in profiles if p.column == pairs.passage.column)
    pair_columns = {query.column, passage.column, *([pairs.group.column] if pairs.group else [])}
    other, other_why = _other_task(task, suggested, texts, [c for c in candidates if c.profile.column not in pair_columns])
    return Detection(
        path=path, task=task, suggested_task=suggested, rows=rows, layout=layout, catalog=None, text=None,
        labels=None, pairs=pairs, lengths=_lengths(passage.cells, query.cells), notes=tuple(notes),
        other_task=other, other_task_why=other_why, given=given,
    )  # fmt: skip


def _suggest_task(texts: list[_Profile], candidates: list[_LabelCandidate], profiles: list[_Profile], rows: int) -> str:
    """Pairs when two text columns are named query and passage, or when no label column is left
    once the group columns of the passage are set aside; labelled texts otherwise."""
    if len(texts) < 2:
        return TEXT_CLASSIFICATION
    named = any(_hinted(p, _QUERY_HINTS) for p in texts) and any(_hinted(p, _PASSAGE_HINTS) and not _hinted(p, _QUERY_HINTS)
                                                                  for p in texts)  # fmt: skip
    if named:
        return "contrastive_embedding"
    passage = max(texts[:2], key=lambda p: p.mean_chars)
    groups = {p.column for p in _group_columns(passage, [p for p in profiles if p not in texts], rows)}
    labels = [c for c in candidates if c.usable and c.profile.column not in groups]
    return TEXT_CLASSIFICATION if labels else "contrastive_embedding"


def _classification_text(path: Path, texts: list[_Profile], notes: list[str], given: bool = False) -> ColumnChoice:
    chosen = texts[0]
    _refuse_empty(path, chosen, "the text column")
    why = _text_why(chosen) + ("; given with --text-column" if given else
                               "; its name says text" if _hinted(chosen, _TEXT_HINTS, ("text",)) else "")  # fmt: skip
    if texts[1:] and not given:
        reason = "its name says text" if _hinted(chosen, _TEXT_HINTS, ("text",)) else "the longest texts"
        notes.append(f"text column: {_show(chosen.column)} chosen ({reason}); "
                     f"{', '.join(_show(p.column) for p in texts[1:])} also hold{'s' if len(texts) == 2 else ''} text: see `# or:` at "
                     "dataset.text_column")  # fmt: skip
    return _choice(chosen, why, [(p, _text_why(p)) for p in texts[1:]])


def _classification_labels(path: Path, candidates: list[_LabelCandidate], profiles: list[_Profile],
                           texts: list[_Profile], notes: list[str], rows: int, given: bool = False) -> Labels:  # fmt: skip
    if not candidates:
        _refuse_too_many(path, [p for p in profiles if p not in texts], rows)
        single = [p for p in profiles if p not in texts and p.kind == "scalar" and p.distinct == 1]
        if single:
            value = single[-1].cells.str.strip().iloc[0]
            raise DataError(
                f"{path}: one class: {_show(single[-1].column)} holds {value!r} in every row, and a classifier "
                "needs at least 2 classes"
            )
        shown = ", ".join(_show(p.column) for p in profiles if p not in texts) or "none"
        raise DataError(
            f"{path}: no label column: none of the other columns ({shown}) holds a few distinct values; a "
            "classifier needs one: name it with --label-column (or give --task contrastive_embedding for pairs)"
        )
    # the given one; else a label hint first, then a usable column (2+ classes, no empty cell), then the rightmost
    ranked = candidates[:1] if given else []
    ranked += sorted(candidates[len(ranked):], key=lambda c: (c.hinted, c.usable, c.profile.position), reverse=True)
    chosen = ranked[0]
    if chosen.classes < 2:
        raise DataError(
            f"{path}: one class: {_show(chosen.profile.column)} holds {chosen.counts[0].name!r} in every row, and a "
            "classifier needs at least 2 classes"
        )
    _refuse_empty(path, chosen.profile, "the label column")
    others = [c for c in ranked[1:] if c.classes >= 2]
    if others and not given:
        reason = "its name says label" if chosen.hinted else "the rightmost"
        notes.append(f"label column: {_show(chosen.profile.column)} chosen ({reason}) among {len(others) + 1} "
                     f"label-like columns; {', '.join(_show(c.profile.column) for c in others)}: see `# or:` at "
                     "dataset.label_column")  # fmt: skip
    names, names_file, name_notes = (None, None, [])
    if chosen.ids:
        names, names_file, name_notes = _names_file(path, chosen)
        notes.extend(name_notes)
        if names is None and not name_notes:
            notes.append(f"label ids: every label is a whole number and no names file ({', '.join(NAMES_FILES)}) is "
                         "next to the data: the ids name the classes; see the label_names placeholder")  # fmt: skip
    counts = chosen.counts
    if names is not None:
        counts = tuple(ClassCount(names[int(c.name)], c.count) for c in counts)
    column = ColumnChoice(chosen.profile.column, chosen.describe() + ("; given with --label-column" if given else ""),
                          tuple(Alternative(c.profile.column, c.describe()) for c in others))  # fmt: skip
    return Labels(column, chosen.multi_label, chosen.separator, chosen.ids, names, names_file, counts, chosen.multi_share)


def _refuse_too_many(path: Path, others: list[_Profile], rows: int) -> None:
    """Refuse, saying why, when a column repeats its values like labels but holds more of them than
    the rows can train (the ones detection leaves out), and offer --label-column for it."""
    limit = label_limit(rows)
    near = [p for p in others if p.kind == "scalar" and limit < p.distinct < rows and p.empty == 0
            and p.mean_chars <= MAX_LABEL_CHARS]  # fmt: skip
    if not near:
        return
    chosen = min(near, key=lambda p: p.distinct)
    raise DataError(
        f"{path}: no label column: {_show(chosen.column)} repeats its values as labels do, but holds {chosen.distinct:,} "
        f"of them in {rows:,} rows ({rows / chosen.distinct:.1f} rows each): too many labels for the rows (init reads at "
        f"most {limit:,} classes from {rows:,} rows); if it is the label column, give --label-column {chosen.column}"
    )
