"""Dataset catalog, user files, splits and balancing, on the real shared datasets."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from finesweep.config.schema import DatasetConfig
from finesweep.data.balancing import class_weights, oversample_indices
from finesweep.data.catalog import CATALOG, load_catalog_dataset
from finesweep.data.prepare import prepare_dataset
from finesweep.errors import DataError
from finesweep.settings import Settings, using


def _prepare(tmp_path: Path, **fields):
    config = DatasetConfig.model_validate(fields)
    return prepare_dataset(config, lambda value: (tmp_path / value).resolve())


@pytest.mark.parametrize(
    "name, sizes",
    [
        ("emotion_carer", {"train": 16000, "validation": 2000, "test": 2000}),
        ("korean_hate_speech", {"test": 471}),
        ("goemotions_ko", {"validation": 4946, "test": 4968}),
        ("davidson_hate", {}),
    ],
)
def test_catalog_datasets_load_with_their_labels(data_dir, tmp_path, name, sizes):
    data = _prepare(tmp_path, name=name)
    assert data.label_names == list(CATALOG[name].label_names)
    counts = data.counts()
    for split, size in sizes.items():
        assert counts[split] == size
    for split in ("train", "validation", "test"):
        labels = set(data.splits[split]["label"])
        assert labels == set(range(len(data.label_names))), f"every class present in {split}"
        assert all(isinstance(t, str) and t.strip() for t in data.splits[split]["text"])


def test_davidson_split_is_stratified_disjoint_and_seeded(data_dir, tmp_path):
    first = _prepare(tmp_path, name="davidson_hate")
    again = _prepare(tmp_path, name="davidson_hate")
    assert first.splits == again.splits and first.fingerprint == again.fingerprint
    total = sum(first.counts().values())
    assert total == 24783
    assert abs(first.counts()["test"] / total - 0.1) < 0.01
    shares = {s: Counter(first.splits[s]["label"])[0] / first.counts()[s] for s in first.splits}
    assert max(shares.values()) - min(shares.values()) < 0.01, "hate_speech share equal in every split"
    other = _prepare(tmp_path, name="davidson_hate", split_seed=99)
    assert other.splits["test"]["text"] != first.splits["test"]["text"]
    assert other.fingerprint != first.fingerprint


def test_goemotions_ekman_view_maps_fine_labels(data_dir):
    frames, names, _ = load_catalog_dataset("goemotions_ko")
    assert len(frames["train"]) == 39555
    assert set(frames["train"]["label"]) == set(names)
    assert frames["train"]["label"].value_counts().idxmax() == "joy"


def test_subsampling_keeps_every_class(data_dir, tmp_path):
    data = _prepare(tmp_path, name="emotion_carer", max_train_samples=120, max_eval_samples=60)
    assert data.counts() == {"train": 120, "validation": 60, "test": 60}
    assert set(data.splits["train"]["label"]) == set(range(6))


def test_checksum_mismatch_is_refused(data_dir, tmp_path, monkeypatch):
    local = tmp_path / "data" / "korean_hate_speech"
    local.mkdir(parents=True)
    shutil.copy(data_dir / "korean_hate_speech" / "dev.tsv", local / "dev.tsv")
    (local / "train.tsv").write_text("comments\tcontain_gender_bias\tbias\thate\nx\tFalse\tnone\tnone\n")
    settings = Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")
    with using(settings), pytest.raises(DataError, match="train.tsv: sha256 is .* expected ebebacdc"):
        load_catalog_dataset("korean_hate_speech")


def _labelled(n_per_class: dict[str, int]) -> pd.DataFrame:
    rows = [(f"{label} example {i}", label) for label, n in n_per_class.items() for i in range(n)]
    return pd.DataFrame(rows, columns=["sentence", "category"])


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_user_files_in_every_format_with_column_mapping(tmp_path, suffix):
    frame = _labelled({"billing": 30, "bug": 20, "other": 10})
    path = tmp_path / f"tickets{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    data = _prepare(tmp_path, path=path.name, text_column="sentence", label_column="category")
    assert data.label_names == ["billing", "bug", "other"]
    assert sum(data.counts().values()) == 60
    train_texts = set(data.splits["train"]["text"])
    assert not train_texts & set(data.splits["test"]["text"]), "test split disjoint from train"
    assert not train_texts & set(data.splits["validation"]["text"])


def test_integer_labels_map_to_declared_names(tmp_path):
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(30)], "label": [i % 3 for i in range(30)]})
    frame.to_csv(tmp_path / "d.csv", index=False)
    data = _prepare(tmp_path, path="d.csv", label_names=["a", "b", "c"])
    assert Counter(data.splits["train"]["label"]) and set(data.splits["train"]["label"]) == {0, 1, 2}


@pytest.mark.parametrize(
    "content, fields, message",
    [
        ("text,label\nhello,a\n", {"label_column": "category"}, r"dataset.label_column: no column 'category'; columns are: text, label"),
        ("text,label\nhello,a\n,b\n", {}, r"row 3: empty 'text'"),
        ("text,label\na,x\nb,y\nc,zzz\n", {"label_names": ["x", "y"]}, r"label 'zzz' \(row 4\) is not one of dataset.label_names: 'x', 'y'"),
        ("text,label\na,x\nb,x,extra,cols\n", {}, r"cannot parse as csv: .*line 3"),
        ("text,label\n" + "a,x\n" * 10 + "b,y\n", {}, r"classes with fewer than 3 examples cannot be split stratified: 'y' \(1\)"),
    ],
    ids=["missing-column", "empty-text", "unknown-label", "ragged-csv", "tiny-class"],
)
def test_bad_user_data_is_a_one_line_error(tmp_path, content, fields, message):
    (tmp_path / "d.csv").write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message) as info:
        _prepare(tmp_path, path="d.csv", **fields)
    assert "\n" not in str(info.value)


def test_non_utf8_file_names_line_and_byte(tmp_path):
    (tmp_path / "d.csv").write_bytes(b"text,label\nfine,a\nbad \xff byte,b\n")
    with pytest.raises(DataError, match=r"d.csv: line 3: not UTF-8 \(byte 0xff"):
        _prepare(tmp_path, path="d.csv")


def test_oversampling_balances_only_what_it_is_given():
    labels = [0] * 50 + [1] * 10 + [2] * 5
    indices = oversample_indices(labels, seed=1)
    counts = Counter(labels[i] for i in indices)
    assert counts == {0: 50, 1: 50, 2: 50}
    assert set(range(len(labels))) <= set(indices), "every original example kept"
    assert indices == oversample_indices(labels, seed=1)


def test_class_weights_are_inverse_frequency():
    weights = class_weights([0] * 30 + [1] * 10, num_classes=3)
    assert weights[1] == pytest.approx(3 * weights[0])
    assert weights[2] == 1.0, "a class absent from training gets weight 1"


def test_nsmc_labels_by_rating_and_splits_by_movie(data_dir, tmp_path):
    """NSMC's rule on the raw reviews (1-4 negative, 9-10 positive, 5-8 dropped), split by movie."""
    import json

    from finesweep.data import nsmc

    data = _prepare(tmp_path, name="nsmc")
    assert data.label_names == ["negative", "positive"]
    counts = data.counts()
    assert sum(counts.values()) == 9193, "SOURCE.md: 9,193 binary-labelled reviews"
    negative = sum(Counter(data.splits[s]["label"])[0] for s in data.splits)
    assert round(negative / 9193, 3) == 0.178
    for split in ("validation", "test"):
        assert counts[split] >= 0.1 * 9193 and counts[split] < 0.12 * 9193, counts
    raw = data_dir / "nsmc_raw_subset" / "raw"
    reviews = [r for path in sorted(raw.glob("*.json")) for r in json.loads(path.read_text(encoding="utf-8"))]
    kept = [r for r in reviews if nsmc.nsmc_label(r["rating"]) is not None]
    per_movie = pd.Series(Counter(r["movie_id"] for r in kept)).sort_index()
    assignment = nsmc._movie_splits(per_movie)
    for split in data.splits:  # every split is exactly the reviews of its own movies
        assert counts[split] == sum(n for movie, n in per_movie.items() if assignment[movie] == split)
    texts = {split: set(data.splits[split]["text"]) for split in data.splits}
    splits_of: dict[str, set] = {}  # a short review ("최고") can be written under several movies
    for r in kept:
        splits_of.setdefault(r["review"], set()).add(assignment[r["movie_id"]])
    assert all(split in splits_of[t] for split, values in texts.items() for t in values), "no movie in two splits"
