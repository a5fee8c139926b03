"""(query, positive passage) pairs for retrieval tasks, split so no evaluation positive is trained on.

Pairs are split by ``group`` (an article, a document) or, without one, by passage, with
scikit-learn's ``GroupShuffleSplit``: all questions about one passage land in the same split, so a
validation or test query's positive passage is one the model never trained on.

Each split holds its queries, a corpus and, per query, the index of its positive passage in that
corpus. The training split's corpus is the passages of its kept pairs. The validation and test
splits rank the dataset's whole corpus: every distinct passage of every split, taken before
``max_train_samples``/``max_eval_samples`` keep a sample of the queries (so the corpus does not
shrink with the budget), plus any passage a catalog dataset ships without a query (SciFact: all of
BEIR's 5,183 abstracts). Training passages are then distractors for evaluation queries, which
makes the ranking harder than against one split's few dozen passages: KorQuAD 1.0's dev set has 964
paragraphs, 960 distinct passages that questions ask about (three are repeats, one has no question),
against 60-120 in a split of its own.
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
    """Retrieval splits: ``splits[name] = {"query": [...], "corpus": [...], "positive": [int, ...]}``.

    ``validation`` and ``test`` share one ``corpus`` list, the whole corpus (see the module)."""

    splits: dict[str, dict[str, list[Any]]]
    fingerprint: str
    source: str
    extra: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # a user's files read: absolute path -> sha256
    # the group (article, document; the passage itself without a group column) of each training
    # passage, in the training corpus's order: hard-negative mining skips a query's whole group
    train_groups: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Number of queries per split."""
        return {name: len(split["query"]) for name, split in self.splits.items()}

    def describe(self) -> str:
        """One line for the console: queries per split, training passages and the evaluation corpus."""
        train = self.splits["train"]
        parts = [f"train {len(train['query'])} queries / {len(train['corpus'])} passages",
                 *(f"{name} {len(self.splits[name]['query'])} queries" for name in ("validation", "test"))]  # fmt: skip
        return f"{self.source}: {', '.join(parts)}; evaluation ranks all {self.eval_corpus_size()} passages"

    def eval_corpus_size(self) -> int:
        """Passages each validation and test query ranks: the whole corpus of the dataset."""
        return len(self.splits["validation"]["corpus"])

    def summary(self) -> dict[str, Any]:
        """What the parent run records as ``data_summary.json``."""
        return {
            "source": self.source,
            "fingerprint": self.fingerprint,
            "queries": self.counts(),
            "corpus": {name: len(split["corpus"]) for name, split in self.splits.items()},
            "eval_corpus": self.eval_corpus_size(),  # passages: every one of every split
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


@dataclass(frozen=True)
class _Loaded:
    """One pairs dataset as read: its pairs, passages without a query, file hashes and source."""

    frame: pd.DataFrame
    unpaired: list[str]  # passages no query points to (a BEIR corpus's distractors); none for a user's file
    hashes: list[str]
    source: str


def _read(config: DatasetConfig, resolve: Callable[[str], Any]) -> _Loaded:
    if config.name is not None:
        entry = catalog_entry(config.name)
        if entry.kind != "pairs":
            raise DataError(f"dataset.name: {config.name!r} is a labelled dataset, not (query, passage) pairs")
        paths = {remote.name: locate_file(entry, remote) for remote in entry.files}
        frames = entry.load(paths)
        unpaired = frames["corpus"]["passage"].astype(str).tolist() if "corpus" in frames else []
        return _Loaded(frames["all"], unpaired, [remote.sha256 for remote in entry.files], f"catalog:{config.name}")
    path = resolve(config.path)
    frame = _pair_frame(read_frame(path, infer_format(path, config.format), config.header), str(path), config)
    return _Loaded(frame, [], [sha256_of(path)], str(path))


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


def whole_corpus(loaded: _Loaded) -> list[str]:
    """Every distinct passage of the dataset: those of all pairs (first-seen order), then those no
    query points to. A passage is identified by its text, so a query's positive is one index."""
    return list(dict.fromkeys([*loaded.frame["passage"], *loaded.unpaired]))


def _encode(queries: pd.DataFrame, corpus: list[str]) -> dict[str, list[Any]]:
    """The kept queries and the index of each one's positive passage in ``corpus``."""
    index = {passage: i for i, passage in enumerate(corpus)}
    return {"query": queries["query"].tolist(), "corpus": corpus, "positive": [index[p] for p in queries["passage"]]}


def _subsample(frame: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    if limit is None or len(frame) <= limit:
        return frame.reset_index(drop=True)
    return frame.sample(n=limit, random_state=seed).reset_index(drop=True)


def prepare_pairs(config: DatasetConfig, resolve: Callable[[str], Any]) -> PairData:
    """Load, split by group, subsample queries and encode a pairs dataset. Validation and test
    queries rank the whole corpus (every passage of every split), whatever ``max_train_samples``
    and ``max_eval_samples`` leave of the queries; training sees only its kept pairs' passages."""
    loaded = _read(config, resolve)
    files = {} if config.name is not None else {str(Path(loaded.source).resolve()): loaded.hashes[0]}
    splits = _split_by_group(loaded.frame, config, loaded.source)
    corpus = whole_corpus(loaded)
    encoded, kept = {}, {}
    for name in SPLITS:
        limit = config.max_train_samples if name == "train" else config.max_eval_samples
        kept[name] = queries = _subsample(splits[name], limit, config.split_seed)
        encoded[name] = _encode(queries, list(dict.fromkeys(queries["passage"])) if name == "train" else corpus)
    # "corpus" in the recipe: figures ranked against one split's passages (before) are not comparable
    recipe = json.dumps({"files": loaded.hashes, "split": config.recipe(exclude={"name", "path"}),
                         "corpus": "whole"}, sort_keys=True)  # fmt: skip
    fingerprint = hashlib.sha256(recipe.encode()).hexdigest()[:16]
    groups = _passage_groups(kept["train"])
    train_groups = [groups[passage] for passage in encoded["train"]["corpus"]]
    return PairData(splits=encoded, fingerprint=fingerprint, source=loaded.source, files=files, train_groups=train_groups)


def _passage_groups(pairs: pd.DataFrame) -> dict[str, str]:
    """Each passage's group (first seen), or the passage itself when the data names no group."""
    column = pairs["group"] if "group" in pairs else pairs["passage"]
    return dict(zip(reversed(pairs["passage"].tolist()), reversed(column.astype(str).tolist())))
