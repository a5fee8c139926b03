"""Turn a job's ``dataset`` section into encoded train/validation/test splits, on the driver.

Runs once per sweep, before Ray starts, so that every data problem is reported up front and every
trial trains on exactly the same split.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from finesweep.data.catalog import SPLITS, catalog_entry, load_catalog_dataset
from finesweep.files import sha256_of
from finesweep.data.readers import infer_format, label_ids_to_names, read_frame, to_text_label
from finesweep.data.splits import make_splits, subsample
from finesweep.errors import DataError

if TYPE_CHECKING:
    from finesweep.config.schema import DatasetConfig  # a type only: data does not depend on config


@dataclass
class PreparedData:
    """Encoded splits: ``splits[name] = {"text": [...], "label": [int, ...]}``, plus provenance."""

    label_names: list[str]
    splits: dict[str, dict[str, list[Any]]]
    fingerprint: str
    source: str
    extra: dict[str, Any] = field(default_factory=dict)
    multi_label: bool = False  # then each label is a list of label indices
    warnings: list[str] = field(default_factory=list)  # printed by the sweep before it starts
    files: dict[str, str] = field(default_factory=dict)  # a user's files read: absolute path -> sha256

    def counts(self) -> dict[str, int]:
        """Number of examples per split."""
        return {name: len(split["text"]) for name, split in self.splits.items()}

    def describe(self) -> str:
        """One line for the console: examples per split and the number of classes."""
        return f"{self.source}: {self.counts()} examples, {len(self.label_names)} classes"

    def summary(self) -> dict[str, Any]:
        """What the parent run records as ``data_summary.json``."""
        return {
            "source": self.source,
            "fingerprint": self.fingerprint,
            "label_names": self.label_names,
            "counts": self.counts(),
            "train_class_counts": self.class_counts("train"),
        }

    def class_counts(self, split: str) -> dict[str, int]:
        """Examples per class name in one split (for multi-label, texts carrying each label)."""
        series = pd.Series(self.splits[split]["label"])
        series = (series.explode().dropna() if self.multi_label else series).value_counts()
        return {self.label_names[int(i)]: int(n) for i, n in series.sort_index().items()}


def _read_user_files(config: DatasetConfig, resolve) -> tuple[dict[str, pd.DataFrame], list[str], str, dict[str, str]]:
    shipped: dict[str, pd.DataFrame] = {}
    hashes = []
    files: dict[str, str] = {}
    for split, key in (("train", "path"), ("validation", "validation_path"), ("test", "test_path")):
        value = getattr(config, key)
        if value is None:
            continue
        path = resolve(value)
        frame = read_frame(path, infer_format(path, config.format), config.header, f"dataset.{key}")
        frame = to_text_label(frame, path, config.text_column, config.label_column, config.label_separator)
        if config.label_ids:
            names = list(config.label_names or [])  # the config requires them with label_ids
            frame["label"] = label_ids_to_names(frame["label"], path, names, config.multi_label, config.label_separator)
        shipped[split] = frame
        hashes.append(sha256_of(path))
        files[str(Path(path).resolve())] = hashes[-1]
    if len(shipped) == 1:
        shipped = {"all": shipped["train"]}
    return shipped, hashes, str(resolve(config.path)), files


def abridge(items: list[Any], limit: int = 8) -> str:
    """The first ``limit`` items, then how many there are in all: a message stays one short line."""
    shown = ", ".join(repr(item) for item in items[:limit])
    return shown if len(items) <= limit else f"{shown}, ... ({len(items):,} in all)"


def _label_names(config: DatasetConfig, frames: dict[str, pd.DataFrame], catalog_names: list[str] | None,
                 source: str = "") -> list[str]:  # fmt: skip
    if config.label_names:
        return list(config.label_names)
    if catalog_names:
        return catalog_names
    seen = sorted(set().union(*(set(f["label"]) for f in frames.values())))
    rows = sum(len(f) for f in frames.values())
    if len(seen) < 2:
        found = f"only {abridge(seen)}" if seen else "no labels"
        raise DataError(f"{source}: dataset.label_column: needs at least 2 distinct labels; its {rows} row(s) hold {found}")
    _refuse_confusable_labels(config, frames, seen, source)
    return seen


def _first_row(frames: dict[str, pd.DataFrame], label: str) -> Any:
    for frame in frames.values():
        hits = frame.index[frame["label"] == label]
        if len(hits):
            return hits[0]
    return None


def _refuse_confusable_labels(config: DatasetConfig, frames: dict[str, pd.DataFrame], seen: list[str], source: str) -> None:
    """Labels inferred from the data must be distinct classes: ``bug`` and `` bug`` are one class
    typed twice, and ``billing,bug`` on a single-label task is two labels, not a third class."""
    by_stripped: dict[str, list[str]] = {}
    for label in seen:
        by_stripped.setdefault(str(label).strip(), []).append(label)
    for variants in by_stripped.values():
        if len(variants) > 1:
            odd = next(v for v in variants if v != v.strip())
            raise DataError(f"{source}: row {_first_row(frames, odd)}: label {odd!r} differs from "
                            f"{abridge([v for v in variants if v != odd])} only in surrounding whitespace")  # fmt: skip
    separator = config.label_separator
    known = set(by_stripped)
    for label in seen:
        parts = [part.strip() for part in str(label).split(separator)]
        if len(parts) > 1 and all(part in known for part in parts):
            raise DataError(
                f"{source}: row {_first_row(frames, label)}: label {label!r} is {len(parts)} labels joined by "
                f"{separator!r} on a single-label task; set dataset.multi_label: true, or give each row one label"
            )


def _label_index(label_names: list[str]) -> dict[str, int]:
    index = {name: i for i, name in enumerate(label_names)}
    # labels may be given as names or as integer positions in label_names
    index.update({str(i): i for i in range(len(label_names)) if str(i) not in index})
    return index


def _check_labels(frame: pd.DataFrame, label_names: list[str], where: str) -> None:
    unknown = ~frame["label"].isin(_label_index(label_names))
    if unknown.any():
        position = int(unknown.to_numpy().nonzero()[0][0])
        value = frame["label"].iloc[position]
        raise DataError(
            f"{where}: label {value!r} (row {frame.index[position]}) is not one of dataset.label_names: "
            f"{abridge(label_names)}"
        )


def _encode(frame: pd.DataFrame, label_names: list[str]) -> dict[str, list[Any]]:
    index = _label_index(label_names)
    return {"text": frame["text"].tolist(), "label": [index[v] for v in frame["label"]]}


def _split_names(value: str | list[str], separator: str) -> list[str]:
    """A multi-label cell's label names; a list is already split (label ids mapped to names)."""
    if isinstance(value, list):
        return value
    return [name.strip() for name in str(value).split(separator) if name.strip()]


def _random_split(frame: pd.DataFrame, fraction: float, seed: int, where: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rest, carved): ``fraction`` of ``frame`` at random; refused with the counts when either
    part would be empty (scikit-learn's own ValueError names none of the user's words)."""
    from sklearn.model_selection import train_test_split

    try:
        rest, carved = train_test_split(frame, test_size=fraction, random_state=seed)
    except ValueError:
        raise DataError(f"{where}: {len(frame)} row(s) are too few to carve a {fraction:.0%} split and keep rows to "
                        "train on; give more rows, or separate validation and test files") from None  # fmt: skip
    return rest, carved


def _prepare_multilabel(config: DatasetConfig, shipped: dict[str, pd.DataFrame], catalog_names: list[str] | None,
                        source: str) -> tuple[list[str], dict[str, dict[str, list[Any]]]]:  # fmt: skip
    """Label names and encoded splits of a multi-label dataset: random (not stratified) splits and
    subsamples, each label a list of label indices."""

    frames = {split: frame.assign(label=frame["label"].map(lambda v: _split_names(v, config.label_separator)))
              for split, frame in shipped.items()}  # fmt: skip
    label_names = list(config.label_names or catalog_names or sorted({n for f in frames.values() for ls in f["label"] for n in ls}))
    index = {name: i for i, name in enumerate(label_names)}
    for split, frame in frames.items():
        for row, names in frame["label"].items():
            unknown = [n for n in names if n not in index]
            if unknown or not names:
                where = source if split in ("all", "train") else f"{source} [{split}]"
                got = f"label {unknown[0]!r}" if unknown else "no label"
                raise DataError(f"{where}: row {row}: {got} is not one of dataset.label_names: {abridge(label_names)}")
    if "all" in frames:
        frames["train"], frames["test"] = _random_split(frames.pop("all"), config.test_fraction, config.split_seed, source)
    if "test" not in frames:
        frames["train"], frames["test"] = _random_split(frames["train"], config.test_fraction, config.split_seed, source)
    if "validation" not in frames:
        frames["train"], frames["validation"] = _random_split(frames["train"], config.validation_fraction,
                                                              config.split_seed + 1, source)  # fmt: skip
    limits = {"train": config.max_train_samples, "validation": config.max_eval_samples, "test": config.max_eval_samples}
    splits = {}
    for split in SPLITS:
        frame = frames[split]
        if limits[split] is not None and len(frame) > limits[split]:
            frame = frame.sample(n=limits[split], random_state=config.split_seed)
        splits[split] = {"text": frame["text"].tolist(), "label": [[index[n] for n in names] for names in frame["label"]]}
    return label_names, splits


def prepare_dataset(config: DatasetConfig, resolve) -> PreparedData:
    """Load, split, subsample and encode the dataset a job names. ``resolve`` maps job-relative paths."""
    multi_label = config.multi_label
    files: dict[str, str] = {}
    if config.name is not None:
        entry = catalog_entry(config.name)
        if entry.kind != "labels":
            raise DataError(f"dataset.name: {config.name!r} holds (query, passage) pairs, not labelled texts")
        multi_label = multi_label or entry.multi_label
        shipped, catalog_names, hashes = load_catalog_dataset(config.name)
        # errors name rows by number (a user file's frames are indexed by their rows already)
        shipped = {split: frame.set_axis(range(1, len(frame) + 1), axis=0) for split, frame in shipped.items()}
        source = f"catalog:{config.name}"
    else:
        shipped, hashes, source, files = _read_user_files(config, resolve)
        catalog_names = None
    if multi_label:
        label_names, splits = _prepare_multilabel(config, shipped, catalog_names, source)
        return PreparedData(label_names, splits, _fingerprint(config, hashes), source, multi_label=True, files=files)
    label_names = _label_names(config, shipped, catalog_names, source)
    for split, frame in shipped.items():
        _check_labels(frame, label_names, source if split in ("all", "train") else f"{source} [{split}]")
    frames = make_splits(shipped, config.validation_fraction, config.test_fraction, config.split_seed, source)
    frames["train"] = subsample(frames["train"], config.max_train_samples, config.split_seed)
    for split in ("validation", "test"):
        frames[split] = subsample(frames[split], config.max_eval_samples, config.split_seed)
    splits = {split: _encode(frames[split], label_names) for split in SPLITS}
    for split in SPLITS:
        missing = set(range(len(label_names))) - set(splits[split]["label"])
        if split == "train" and missing:
            names = ", ".join(label_names[i] for i in sorted(missing))
            raise DataError(f"{source}: the train split has no examples of: {names}")
    prepared = PreparedData(label_names=label_names, splits=splits, fingerprint=_fingerprint(config, hashes), source=source,
                            files=files)  # fmt: skip
    prepared.warnings.extend(overlap_warnings(splits))
    return prepared


def overlap_warnings(splits: dict[str, dict[str, list[Any]]]) -> list[str]:
    """Warnings for validation/test texts that also occur in training: their figures would be optimistic."""
    train = set(splits["train"]["text"])
    out = []
    for split in ("validation", "test"):
        texts = splits[split]["text"]
        shared = sum(1 for text in texts if text in train)
        if texts and shared / len(texts) >= 0.5:  # a few duplicates are normal in real data; half is a mistake
            out.append(
                f"{shared} of {len(texts)} {split} texts ({shared / len(texts):.0%}) also occur in the training split; "
                f"its figures will be optimistic (is dataset.{split}_path the training file?)"
            )
    return out


def _fingerprint(config: DatasetConfig, hashes: list[str]) -> str:
    """Files and split recipe: equal fingerprints mean identical splits."""
    recipe = json.dumps(
        {"files": hashes, "split": config.recipe(exclude={"name", "path", "validation_path", "test_path"})},
        sort_keys=True,
    )
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]
