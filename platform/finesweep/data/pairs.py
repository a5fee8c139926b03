"""(query, positive passage) pairs for retrieval tasks, split so no evaluation passage is trained on.

Each split holds its queries, its own corpus (every distinct passage of that split) and, per
query, the index of its positive passage in that corpus. Pairs are split by ``group`` (an
article, a document) or, without one, by passage, with scikit-learn's ``GroupShuffleSplit``: all
questions about one passage land in the same split, so evaluation measures retrieval of passages
the model never saw.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pandas as pd
from sklearn.model_selection import GroupShuffleSplit

from finesweep.data.catalog import SPLITS, catalog_entry, locate_file
from finesweep.files import sha256_of
from finesweep.data.readers import check_columns, column_label, first_empty, infer_format, read_frame
from finesweep.errors import DataError

if TYPE_CHECKING:
    from finesweep.config.schema import DatasetConfig  # a type only: data does not depend on config


@dataclass
class PairData:
    """Retrieval splits: ``splits[name] = {"query": [...], "corpus": [...], "positive": [int, ...]}``."""

    splits: dict[str, dict[str, list[Any]]]
    fingerprint: str
    source: str
    extra: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # a user's files read: absolute path -> sha256

    def counts(self) -> dict[str, int]:
        """Number of queries per split."""
        return {name: len(split["query"]) for name, split in self.splits.items()}

    def describe(self) -> str:
        """One line for the console: queries and corpus passages per split."""
        parts = [f"{name} {len(s['query'])} queries / {len(s['corpus'])} passages" for name, s in self.splits.items()]
        return f"{self.source}: {', '.join(parts)}"

    def summary(self) -> dict[str, Any]:
        """What the parent run records as ``data_summary.json``."""
        return {
            "source": self.source,
            "fingerprint": self.fingerprint,
            "queries": self.counts(),
            "corpus": {name: len(split["corpus"]) for name, split in self.splits.items()},
        }


def _pair_frame(frame: pd.DataFrame, where: str, config: DatasetConfig) -> pd.DataFrame:
    """Select query/passage(/group) columns; reject missing columns and empty texts."""
    columns: dict[str, int | str] = {"query": config.query_column, "passage": config.passage_column}
    if config.group_column is not None and config.group_column != "":
        columns["group"] = config.group_column
    check_columns(frame, Path(where), {f"dataset.{role}_column": column for role, column in columns.items()})
    out = pd.DataFrame({role: frame[column] for role, column in columns.items()})  # keeps the row numbers
    for role in ("query", "passage"):
        empty = first_empty(out[role])
        if empty is not None:
            row, count = empty
            rows = f"{count} such row{'s' if count > 1 else ''}"
            raise DataError(f"{where}: row {row}: empty {column_label(columns[role])} (dataset.{role}_column; {rows})")
        out[role] = out[role].astype(str)
    return out


def _read(config: DatasetConfig, resolve: Callable[[str], Any]) -> tuple[pd.DataFrame, list[str], str]:
    if config.name is not None:
        entry = catalog_entry(config.name)
        if entry.kind != "pairs":
            raise DataError(f"dataset.name: {config.name!r} is a labelled dataset, not (query, passage) pairs")
        paths = {remote.name: locate_file(entry, remote) for remote in entry.files}
        frame = entry.load(paths)["all"]
        return frame, [remote.sha256 for remote in entry.files], f"catalog:{config.name}"
    path = resolve(config.path)
    frame = _pair_frame(read_frame(path, infer_format(path, config.format), config.header), str(path), config)
    return frame, [sha256_of(path)], str(path)


def _split_by_group(frame: pd.DataFrame, config: DatasetConfig, where: str) -> dict[str, pd.DataFrame]:
    """Train/validation/test with no group (and so no passage) in two splits."""
    groups = frame["group"] if "group" in frame else frame["passage"]
    if groups.nunique() < 3:
        raise DataError(f"{where}: needs at least 3 distinct groups/passages to split, found {groups.nunique()}")
    held_out = config.validation_fraction + config.test_fraction
    splitter = GroupShuffleSplit(n_splits=1, test_size=held_out, random_state=config.split_seed)
    train_rows, rest_rows = next(splitter.split(frame, groups=groups))
    rest = frame.iloc[rest_rows]
    share = config.test_fraction / held_out
    splitter = GroupShuffleSplit(n_splits=1, test_size=share, random_state=config.split_seed + 1)
    val_rows, test_rows = next(splitter.split(rest, groups=groups.iloc[rest_rows]))
    return {"train": frame.iloc[train_rows], "validation": rest.iloc[val_rows], "test": rest.iloc[test_rows]}


def _encode(queries: pd.DataFrame, split: pd.DataFrame) -> dict[str, list[Any]]:
    """The kept queries against the corpus of every distinct passage of their split."""
    corpus = list(dict.fromkeys(split["passage"]))  # first-seen order
    index = {passage: i for i, passage in enumerate(corpus)}
    return {"query": queries["query"].tolist(), "corpus": corpus, "positive": [index[p] for p in queries["passage"]]}


def _subsample(frame: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    if limit is None or len(frame) <= limit:
        return frame.reset_index(drop=True)
    return frame.sample(n=limit, random_state=seed).reset_index(drop=True)


def prepare_pairs(config: DatasetConfig, resolve: Callable[[str], Any]) -> PairData:
    """Load, split by group, subsample queries and encode a pairs dataset. The evaluation corpora are
    every passage of their split, whatever ``max_eval_samples`` leaves of the queries."""
    frame, hashes, source = _read(config, resolve)
    files = {} if config.name is not None else {str(Path(source).resolve()): hashes[0]}
    splits = _split_by_group(frame, config, source)
    encoded = {}
    for name in SPLITS:
        limit = config.max_train_samples if name == "train" else config.max_eval_samples
        queries = _subsample(splits[name], limit, config.split_seed)
        # training needs only the passages of kept pairs; evaluation ranks against the whole split
        encoded[name] = _encode(queries, queries if name == "train" else splits[name])
    recipe = json.dumps({"files": hashes, "split": config.recipe(exclude={"name", "path"})}, sort_keys=True)
    fingerprint = hashlib.sha256(recipe.encode()).hexdigest()[:16]
    return PairData(splits=encoded, fingerprint=fingerprint, source=source, files=files)
