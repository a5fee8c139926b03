"""Users' own data as it comes: csv/tsv files without a header (columns by 0-based position), label
cells holding integer ids into ``dataset.label_names`` (single- and multi-label), and gzip-compressed
text files of every format.

The files are made at test time, in tmp_path, from real rows of the shared datasets (read through
the catalog's data directory): CARER emotions (6 classes) and GoEmotions-Korean, whose own TSVs
are headerless with comma-joined label ids. Every bad input is refused with one line naming the
file, the row and the dotted key, exit 2, and no MLflow run; the two sweeps (``--slow``) train on a
headerless TSV from a job file alone.
"""

from __future__ import annotations

import gzip
import zlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pytest
import yaml

from finesweep.config import load_job
from finesweep.config.schema import DatasetConfig
from finesweep.data import readers
from finesweep.data.catalog import CATALOG, load_catalog_dataset, locate_file
from finesweep.data.prepare import prepare_dataset
from finesweep.data.readers import format_from_name, infer_format, label_ids_to_names, read_frame
from finesweep.errors import DataError
from job_parts import WITHOUT_BASELINES

CARER_NAMES = list(CATALOG["emotion_carer"].label_names)  # sadness, joy, love, anger, fear, surprise
ROWS = 400  # real rows per test file: enough for stratified splits of six classes, quick to train on


def _catalog_file(dataset: str, name: str) -> Path:
    """A shared dataset's file, found (and its sha256 checked) the way the catalog finds it."""
    entry = CATALOG[dataset]
    return locate_file(entry, next(remote for remote in entry.files if remote.name == name))


@pytest.fixture(scope="module")
def carer(data_dir) -> list[tuple[str, int]]:
    """(text, label id into CARER_NAMES) of the first CARER training rows (``text;label`` lines)."""
    lines = _catalog_file("emotion_carer", "train.txt").read_text(encoding="utf-8").splitlines()[:ROWS]
    return [(text, CARER_NAMES.index(label)) for text, label in (line.rsplit(";", 1) for line in lines)]


@pytest.fixture(scope="module")
def goemotions(data_dir) -> tuple[list[str], list[tuple[str, str]]]:
    """GoEmotions-Korean's 28 label names and (text, comma-joined label ids) of its first training rows."""
    names = _catalog_file("goemotions_ko_multilabel", "label.txt").read_text(encoding="utf-8").split()
    lines = _catalog_file("goemotions_ko_multilabel", "train.tsv").read_text(encoding="utf-8").splitlines()[:ROWS]
    return names, [tuple(line.split("\t")) for line in lines]  # type: ignore[misc]


def headerless_tsv(rows: list[tuple[str, Any]]) -> str:
    """The issue's shape: ``<row id>\\t<text>\\t<label ids>`` lines, no header (text 1, labels 2)."""
    return "".join(f"{number}\t{text}\t{labels}\n" for number, (text, labels) in enumerate(rows, start=1))


def _labelled(
    tmp: Path, rows: list[tuple[str, Any]], name: str = "emotions.tsv", damage: Callable[[list[str]], None] | None = None
) -> Path:
    """Write ``rows`` as a headerless TSV (gzip-compressed when ``name`` ends in .gz), with ``damage``
    applied to its lines (0-based: line i is row i + 1)."""
    lines = headerless_tsv(rows).splitlines(keepends=True)
    if damage:
        damage(lines)
    data = "".join(lines).encode("utf-8")
    path = tmp / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


def _set_label(line: int, value: str) -> Callable[[list[str]], None]:
    """Damage: the label cell of 1-based ``line`` becomes ``value``."""
    def damage(lines: list[str]) -> None:
        number, text, _ = lines[line - 1].rstrip("\n").split("\t")
        lines[line - 1] = f"{number}\t{text}\t{value}\n"
    return damage


def _ids_dataset(path: str, names: list[str], **more: Any) -> dict[str, Any]:
    return {"path": path, "header": False, "text_column": 1, "label_column": 2, "label_ids": True, "label_names": names,
            **more}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# unit level: each reader feature on its own, no sweep


def test_the_format_is_the_suffix_before_gz(tmp_path):
    assert [format_from_name(n) for n in ("a.csv.gz", "a.TSV.GZ", "a.jsonl.gz", "a.json.gz", "a.parquet", "a.gz", "a.txt")] \
        == ["csv", "tsv", "jsonl", "jsonl", "parquet", None, None]  # fmt: skip
    assert infer_format(tmp_path / "data.gz", "tsv") == "tsv"
    with pytest.raises(DataError, match=r"data.gz: cannot tell the format from the suffix; set dataset.format"):
        infer_format(tmp_path / "data.gz", None)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".json"])
def test_gzip_of_every_text_format_reads_like_the_plain_file(tmp_path, carer, suffix):
    frame = pd.DataFrame(carer[:50], columns=["text", "label"]).astype(str)
    plain = tmp_path / f"emotions{suffix}"
    if suffix in (".csv", ".tsv"):
        frame.to_csv(plain, index=False, sep="\t" if suffix == ".tsv" else ",")
    else:
        frame.to_json(plain, orient="records", lines=True, force_ascii=False)
    packed = tmp_path / f"emotions{suffix}.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    fmt = infer_format(packed, None)
    expected = read_frame(plain, fmt)
    got = read_frame(packed, fmt)
    pd.testing.assert_frame_equal(got, expected)
    assert got["text"].tolist() == frame["text"].tolist()
    assert got.index[0] == (2 if fmt != "jsonl" else 1), "rows are numbered as the editor shows them"


def test_gzip_keeps_the_line_numbers_of_utf8_and_json_errors(tmp_path, carer):
    lines = [f"{text},{label}\n".encode() for text, label in carer[:20]]
    lines[6] = b"caf\xe9 latin-1 text,1\n"  # line 8 of the file, after the header
    (tmp_path / "bad.csv.gz").write_bytes(gzip.compress(b"text,label\n" + b"".join(lines)))
    with pytest.raises(DataError, match=r"bad.csv.gz: line 8: not UTF-8 \(byte 0xe9 at offset \d+\)$"):
        read_frame(tmp_path / "bad.csv.gz", "csv")
    records = [json.dumps({"text": text, "label": label}) for text, label in carer[:10]]
    records[3] = '{"text": "cut short", "label": '
    text = records[0] + "\n\n" + "\n".join(records[1:]) + "\n"  # a blank line 2: the bad record is on line 5
    (tmp_path / "bad.jsonl.gz").write_bytes(gzip.compress(text.encode()))
    with pytest.raises(DataError, match=r"bad.jsonl.gz: line 5: not valid JSON"):
        read_frame(tmp_path / "bad.jsonl.gz", "jsonl")


def test_a_damaged_gzip_file_is_one_line(tmp_path, carer):
    packed = gzip.compress(headerless_tsv(carer).encode())
    cases = {
        "truncated.tsv.gz": (packed[: len(packed) // 2], r"line \d+: dataset.path: corrupt gzip file \(it ends before its "
                             r"end-of-stream marker: truncated\?\); reading breaks off in this line"),
        "checksum.tsv.gz": (packed[:-8] + bytes(8), "dataset.path: corrupt gzip file: its checksum does not match its content"),
        "plain.tsv.gz": (headerless_tsv(carer).encode(), "dataset.path: not gzip-compressed, though named .gz"),
    }  # fmt: skip
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError, match=message) as info:
            read_frame(tmp_path / name, "tsv", header=False)
        assert str(info.value).startswith(f"{tmp_path / name}: ") and "\n" not in str(info.value)
    truncated = str(pytest.raises(DataError, read_frame, tmp_path / "truncated.tsv.gz", "tsv", False).value)
    line = int(truncated.split(": line ")[1].split(":")[0])
    assert 1 < line < ROWS, "the line where the text breaks off"


def test_decompressing_stops_at_the_limit(tmp_path, monkeypatch):
    """An honest bomb is refused from its gzip trailer, before anything is decompressed; one whose
    trailer lies is refused while streaming, once the limit is passed."""
    monkeypatch.setattr(readers, "MAX_DECOMPRESSED_BYTES", 1 << 20)
    bomb = gzip.compress(b"text,label\n" + b"a,b\n" * (1 << 20))  # 4 MiB from 12 KiB
    (tmp_path / "bomb.csv.gz").write_bytes(bomb)
    (tmp_path / "forged.csv.gz").write_bytes(bomb[:-4] + (100).to_bytes(4, "little"))  # claims 100 bytes
    inflated: list[int] = []
    real = zlib.decompressobj

    def counting(*args, **kwargs):
        inflater = real(*args, **kwargs)
        inflated.append(1)
        return inflater

    monkeypatch.setattr(readers.zlib, "decompressobj", counting)
    for name in ("bomb.csv.gz", "forged.csv.gz"):
        with pytest.raises(DataError, match=rf"{name}: dataset.path: decompresses to more than 1 MiB; decompress it yourself"):
            read_frame(tmp_path / name, "csv")
        assert len(inflated) == (0 if name == "bomb.csv.gz" else 1), "the trailer decides before any inflating"


def test_headerless_rows_are_numbered_from_the_first_line(tmp_path, carer):
    body = headerless_tsv(carer[:5])
    (tmp_path / "plain.tsv").write_text("\n" + body.replace("\n", "\n\n", 1), encoding="utf-8")  # blank lines 1 and 3
    frame = read_frame(tmp_path / "plain.tsv", "tsv", header=False)
    assert list(frame.columns) == [0, 1, 2]
    assert frame.index.tolist() == [2, 4, 5, 6, 7], "blank lines count, as in an editor"
    assert frame.loc[4, 1] == carer[1][0] and frame.loc[4, 2] == str(carer[1][1])
    (tmp_path / "named.tsv").write_text("n\ttext\tlabel\n" + body, encoding="utf-8")
    named = read_frame(tmp_path / "named.tsv", "tsv")
    assert list(named.columns) == ["n", "text", "label"] and named.index.tolist() == [2, 3, 4, 5, 6]


def test_tsv_quote_characters_are_text(tmp_path, goemotions):
    _, rows = goemotions
    path = _labelled(tmp_path, rows)
    quoted = [i for i, (text, _) in enumerate(rows) if '"' in text]
    assert len(quoted) > 3, "GoEmotions-Korean comments hold unbalanced quotes"
    frame = read_frame(path, "tsv", header=False)
    assert len(frame) == ROWS, "a quote must not swallow the lines after it"
    assert [frame.loc[i + 1, 1] for i in quoted] == [rows[i][0] for i in quoted]


def test_label_ids_become_names_single_and_multi_label(tmp_path):
    names = ["anger", "joy", "neutral", "sadness"]
    single = pd.Series(["0", " 3", "1"], index=[1, 2, 3])
    assert label_ids_to_names(single, tmp_path, names, False, ",").tolist() == ["anger", "sadness", "joy"]
    multi = pd.Series(["0,3", "2", "1, 0"], index=[4, 5, 6])
    got = label_ids_to_names(multi, tmp_path, names, True, ",")
    assert got.tolist() == [["anger", "sadness"], ["neutral"], ["joy", "anger"]] and got.index.tolist() == [4, 5, 6]
    with pytest.raises(DataError, match=r"row 2: dataset.label_column: '0,3' is not a label id.*set dataset.multi_label: true"):
        label_ids_to_names(pd.Series(["1", "0,3"], index=[1, 2]), tmp_path, names, False, ",")


def test_goemotions_own_headerless_tsv_reads_as_the_catalog_reads_it(data_dir):
    """The real GoEmotions-Korean train.tsv (text, comma-joined ids; 43,410 rows), read with a job's
    keys alone, gives the texts and label names the catalog's own loader gives."""
    names = _catalog_file("goemotions_ko_multilabel", "label.txt").read_text(encoding="utf-8").split()
    path = _catalog_file("goemotions_ko_multilabel", "train.tsv")
    config = DatasetConfig(path=str(path), header=False, text_column=0, label_column=1, multi_label=True, label_ids=True,
                           label_names=names)  # fmt: skip
    frame = read_frame(path, infer_format(path, config.format), config.header)
    labels = label_ids_to_names(frame[1], path, names, True, ",")
    catalog = load_catalog_dataset("goemotions_ko_multilabel")[0]["train"]
    assert frame[0].tolist() == catalog["text"].tolist()
    assert labels.map(",".join).tolist() == catalog["label"].tolist()


def test_headerless_ids_prepare_like_a_named_csv(tmp_path, carer):
    _labelled(tmp_path, carer, "emotions.tsv.gz")
    named = pd.DataFrame([(text, CARER_NAMES[i]) for text, i in carer], columns=["text", "label"])
    named.to_csv(tmp_path / "emotions.csv", index=False)
    ids = prepare_dataset(DatasetConfig(**_ids_dataset("emotions.tsv.gz", CARER_NAMES)), lambda v: tmp_path / v)
    by_name = prepare_dataset(DatasetConfig(path="emotions.csv", label_names=CARER_NAMES), lambda v: tmp_path / v)
    assert ids.label_names == by_name.label_names == CARER_NAMES
    assert ids.splits == by_name.splits


def test_retrieval_pairs_from_a_headerless_csv_gz(tmp_path, carer):
    from finesweep.data.pairs import prepare_pairs

    # (group, query, passage): the group in column 0, which is falsy but a position all the same
    pairs = pd.DataFrame([(i // 4, " ".join(text.split()[:4]), text) for i, (text, _) in enumerate(carer[:120])])
    (tmp_path / "pairs.csv.gz").write_bytes(gzip.compress(pairs.to_csv(index=False, header=False).encode()))
    keys = {"path": "pairs.csv.gz", "header": False, "query_column": 1, "passage_column": 2, "group_column": 0}
    data = prepare_pairs(DatasetConfig(**keys), lambda v: tmp_path / v)
    assert sum(data.counts().values()) == 120
    train_passages = set(data.splits["train"]["corpus"])
    test = data.splits["test"]
    assert not train_passages & {test["corpus"][i] for i in test["positive"]}, "groups kept apart, so passages too"
    with pytest.raises(DataError, match=r"pairs.csv.gz: row 1: dataset.group_column: position 5 is past the last column"):
        prepare_pairs(DatasetConfig(**{**keys, "group_column": 5}), lambda v: tmp_path / v)


def test_header_false_columns_are_positions_and_the_fingerprint_recipe_is_stable():
    config = DatasetConfig(path="d.tsv", header=False, text_column="1", label_column=2)
    assert (config.text_column, config.label_column) == (1, 2)
    assert DatasetConfig.model_validate(config.model_dump()) == config, "a resolved job re-validates"
    assert "header" in config.recipe(set())
    plain = DatasetConfig(path="d.csv").recipe(set())
    assert "header" not in plain and "label_ids" not in plain, "sweeps recorded before these keys keep their fingerprint"
    assert DatasetConfig(path="d.csv", text_column="3").text_column == "3", "a header named 3"


# ---------------------------------------------------------------------------------------------
# bad inputs: one line naming the file, the row and the key; exit 2 through the CLI; no run


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """One MLflow SQLite store for every refused sweep (created once: its schema takes seconds)."""
    return tmp_path_factory.mktemp("store") / "mlflow.db"


def _job(tmp: Path, dataset: dict[str, Any], store: Path, **more: Any) -> Path:
    job = {
        "name": "own-data",
        "dataset": {"max_train_samples": 120, "max_eval_samples": 60, **dataset},
        "search": {"num_samples": 1, "space": None},
        "scheduler": {"type": "none"},
        "tracking": {"uri": f"sqlite:///{store}", "experiment": "own-data-refused"},
        "storage_path": str(tmp / "results"),
        "baselines": dict(WITHOUT_BASELINES),
        **more,
    }
    path = tmp / "job.yaml"
    path.write_text(yaml.safe_dump(job, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def cli(monkeypatch, capsys):
    """finesweep's console entry point, run in this process: ``(exit code, stderr lines starting error:)``.
    The environment it sets for MLflow and Ray is restored afterwards."""
    from finesweep import cli as console

    saved = dict(os.environ)

    def run(*args: str) -> tuple[int, list[str]]:
        monkeypatch.setattr(sys, "argv", ["finesweep", *args])
        with pytest.raises(SystemExit) as exited:
            console.main()
        captured = capsys.readouterr()
        assert "Traceback" not in captured.out + captured.err
        return exited.value.code, [line for line in captured.err.splitlines() if line.startswith("error:")]

    yield run
    os.environ.clear()
    os.environ.update(saved)


def _assert_no_run(store: Path) -> None:
    if not store.exists():
        return
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{store}")
    assert client.get_experiment_by_name("own-data-refused") is None, "a refused sweep created its experiment"
    assert client.search_runs([e.experiment_id for e in client.search_experiments()]) == [], "a refused sweep left a run"


def _gz_truncated(tmp: Path, carer, goemotions) -> tuple[dict[str, Any], tuple[str, ...]]:
    path = _labelled(tmp, carer, "emotions.tsv.gz")
    path.write_bytes(path.read_bytes()[:-200])
    return _ids_dataset(path.name, CARER_NAMES), (f"{path}: line ", ": dataset.path: corrupt gzip file", "truncated?")


def _gz_not_gzip(tmp: Path, carer, goemotions) -> tuple[dict[str, Any], tuple[str, ...]]:
    path = tmp / "emotions.tsv.gz"
    path.write_text(headerless_tsv(carer), encoding="utf-8")
    return _ids_dataset(path.name, CARER_NAMES), (f"{path}: dataset.path: not gzip-compressed, though named .gz",)


def _single(line: int, value: str, *fragments: str, name: str = "emotions.tsv"):
    def build(tmp: Path, carer, goemotions) -> tuple[dict[str, Any], tuple[str, ...]]:
        path = _labelled(tmp, carer, name, _set_label(line, value))
        return _ids_dataset(path.name, CARER_NAMES), (f"{path}: row {line}: dataset.label_column: ", *fragments)
    return build


def _multi(line: int, value: str, *fragments: str):
    def build(tmp: Path, carer, goemotions) -> tuple[dict[str, Any], tuple[str, ...]]:
        names, rows = goemotions
        path = _labelled(tmp, rows, "goemotions.tsv.gz", _set_label(line, value))
        dataset = _ids_dataset(path.name, names, multi_label=True)
        return dataset, (f"{path}: row {line}: dataset.label_column: ", *fragments)
    return build


def _with_header(tmp: Path, carer, goemotions) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The same bad id as in the headerless case, one line further down: the header is row 1."""
    path = _labelled(tmp, carer, "emotions.tsv", _set_label(7, "6"))
    path.write_text("n\ttext\tlabel\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    dataset = {"path": path.name, "text_column": "text", "label_column": "label", "label_ids": True, "label_names": CARER_NAMES}
    return dataset, (f"{path}: row 8: dataset.label_column: label id 6 is out of range",)


def _past_last_column(tmp: Path, carer, goemotions) -> tuple[dict[str, Any], tuple[str, ...]]:
    path = _labelled(tmp, carer)
    return _ids_dataset(path.name, CARER_NAMES, label_column=3), (
        f"{path}: row 1: dataset.label_column: position 3 is past the last column; the rows have 3 column(s), positions 0-2",
    )


def _empty_text(tmp: Path, carer, goemotions) -> tuple[dict[str, Any], tuple[str, ...]]:
    def damage(lines: list[str]) -> None:
        lines[4] = "5\t\t1\n"
    path = _labelled(tmp, carer, damage=damage)
    return _ids_dataset(path.name, CARER_NAMES), (f"{path}: row 5: empty column 1 (dataset.text_column; 1 such row)",)


def _named(rows_of: Callable[[list[tuple[str, int]]], list[tuple[str, str]]], *fragments: str):
    """Real CARER rows with label names (a header ``text<TAB>label``), changed by ``rows_of``; the
    labels are inferred from the data (no label_names)."""
    def build(tmp: Path, carer, goemotions) -> tuple[dict[str, Any], tuple[str, ...]]:
        rows = rows_of([(text, CARER_NAMES[label]) for text, label in carer])
        path = tmp / "named.tsv"
        path.write_text("text\tlabel\n" + "".join(f"{t}\t{label}\n" for t, label in rows), encoding="utf-8")
        return {"path": path.name}, (f"{path}: ", *fragments)
    return build


def _retyped(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    rows[4] = (rows[4][0], " " + rows[3][1])  # row 6 (the header is row 1): the label of row 5, with a space
    return rows


def _joined(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    rows[2] = (rows[2][0], f"{rows[0][1]},{rows[1][1]}") if rows[0][1] != rows[1][1] else (rows[2][0], "joy,anger")
    return rows


DATA_CASES = [
    pytest.param(_named(_retyped, "row 6: label ", "only in surrounding whitespace"), id="label-with-a-space"),
    pytest.param(_named(_joined, "row 4: label ", "labels joined by ',' on a single-label task", "multi_label: true"),
                 id="labels-joined-on-single-label"),
    pytest.param(_named(lambda rows: [(t, "joy") for t, _ in rows], "needs at least 2 distinct labels",
                        "row(s) hold only 'joy'"), id="one-class"),
    pytest.param(_named(lambda rows: rows[:1], "needs at least 2 distinct labels", "its 1 row(s) hold only"), id="one-row"),
    pytest.param(_named(lambda rows: [(t, ("joy", "sadness")[i % 2]) for i, (t, _) in enumerate(rows[:6])], "too few to carve a", "give more rows, or separate validation and test files"),
                 id="too-few-rows-to-split"),
    pytest.param(_single(7, "6", "label id 6 is out of range; dataset.label_names has 6 names, ids 0-5 (got '6')"),
                 id="id-out-of-range"),
    pytest.param(_with_header, id="id-out-of-range-with-header"),
    pytest.param(_multi(5, "0,28", "label id 28 is out of range; dataset.label_names has 28 names, ids 0-27 (got '0,28')"),
                 id="multi-label-id-out-of-range"),
    pytest.param(_multi(4, "0,bug", "'bug' is not a label id; with dataset.label_ids: true every label is a whole number "
                        "0-27 into dataset.label_names (got '0,bug')"), id="mixed-ids-and-names"),
    pytest.param(_single(9, "2.5", "'2.5' is not a label id", name="emotions.tsv.gz"), id="non-integer-id"),
    pytest.param(_single(3, "-1", "'-1' is not a label id"), id="negative-id"),
    pytest.param(_past_last_column, id="position-past-the-last-column"),
    pytest.param(_empty_text, id="headerless-empty-text"),
    pytest.param(_gz_truncated, id="corrupt-gzip-truncated"),
    pytest.param(_gz_not_gzip, id="gz-name-plain-content"),
]  # fmt: skip


@pytest.mark.parametrize("build", DATA_CASES)
def test_bad_user_data_is_one_line_exit_2_and_no_run(tmp_path, carer, goemotions, store, cli, build):
    dataset, fragments = build(tmp_path, carer, goemotions)
    job = _job(tmp_path, dataset, store)
    assert cli("validate", str(job)) == (0, []), "the job file itself is fine: the data is not"
    code, errors = cli("sweep", str(job))
    assert code == 2 and len(errors) == 1, errors
    for fragment in fragments:
        assert fragment in errors[0], f"{fragment!r} not in {errors[0]!r}"
    _assert_no_run(store)


CONFIG_CASES = [
    pytest.param({"path": "emotions.jsonl", "header": False, "text_column": 0, "label_column": 1}, "dataset.header",
                 "false applies to csv and tsv files; path 'emotions.jsonl' is jsonl, whose records name their fields",
                 id="header-false-jsonl"),
    pytest.param({"path": "emotions.jsonl.gz", "header": False, "text_column": 0, "label_column": 1}, "dataset.header",
                 "path 'emotions.jsonl.gz' is jsonl", id="header-false-jsonl-gz"),
    pytest.param({"path": "e.tsv", "header": False, "text_column": "sentence", "label_column": 2}, "dataset.text_column",
                 "with dataset.header: false columns are 0-based positions, whole numbers such as 0 or 2 (got 'sentence')",
                 id="header-false-column-name"),
    pytest.param({"path": "e.tsv", "header": False, "text_column": 1, "label_column": -2}, "dataset.label_column",
                 "(got -2)", id="header-false-negative-position"),
    pytest.param({"path": "e.tsv", "header": False, "text_column": 1}, "dataset",
                 "with dataset.header: false give dataset.label_column too", id="header-false-label-position-missing"),
    pytest.param({"path": "e.tsv", "label_column": 2}, "dataset.label_column",
                 "with dataset.header: true (the default) columns are named by the header line", id="header-true-int-column"),
    pytest.param({"path": "e.tsv", "label_column": True}, "dataset.label_column",
                 "must be a header name (text) or, with dataset.header: false, a 0-based position (got True)",
                 id="column-a-boolean"),
    pytest.param({"path": "e.tsv", "label_ids": True}, "dataset.label_ids",
                 "true maps label id i to dataset.label_names[i]: list the names in dataset.label_names", id="ids-without-names"),
    pytest.param({"name": "emotion_carer", "header": False}, "dataset.header", "applies to `path` datasets",
                 id="header-false-catalog"),
    pytest.param({"path": "e.tsv", "header": "no"}, "dataset.header", "must be a valid boolean", id="header-not-a-boolean"),
]  # fmt: skip


@pytest.mark.parametrize("dataset, key, fragment", CONFIG_CASES)
def test_bad_data_keys_are_one_line_naming_the_key(tmp_path, store, cli, dataset, key, fragment):
    job = _job(tmp_path, dataset, store)
    for command in ("validate", "sweep"):
        code, errors = cli(command, str(job))
        assert code == 2 and len(errors) == 1, (command, errors)
        assert errors[0].startswith(f"error: {job}: {key}: ") and fragment in errors[0], errors[0]
    _assert_no_run(store)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    env["HF_HUB_OFFLINE"] = "1"
    return env


def _finesweep(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """The installed console script, in its own process."""
    command = [str(Path(sys.executable).with_name("finesweep")), *args]
    return subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)


def test_the_console_script_refuses_bad_ids_and_header_false_jsonl(tmp_path, carer, goemotions):
    """The same refusals from `finesweep sweep` and `finesweep validate` as separate processes."""
    dataset, fragments = _multi(4, "0,bug", "'bug' is not a label id")(tmp_path, carer, goemotions)
    job = _job(tmp_path, dataset, tmp_path / "mlflow.db")
    done = _finesweep("sweep", str(job), cwd=tmp_path)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    assert all(fragment in errors[0] for fragment in fragments), errors
    _assert_no_run(tmp_path / "mlflow.db")
    job.write_text(job.read_text().replace("goemotions.tsv.gz", "goemotions.jsonl"), encoding="utf-8")
    done = _finesweep("validate", str(job), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        f"error: {job}: dataset.header: false applies to csv and tsv files; path 'goemotions.jsonl' is jsonl, "
        "whose records name their fields (got false)"
    )


# ---------------------------------------------------------------------------------------------
# a user's headerless TSV with label ids sweeps from a job file alone


def _sweep_job(tmp: Path, tiny_bert: Path, dataset: str, metric: str) -> Path:
    """The job file a user would write (paths relative to it), with the suite's tiny model and budgets."""
    path = tmp / "job.yaml"
    path.write_text(
        f"""\
name: own-data
task: text_classification
dataset:
{dataset}
  max_train_samples: 120
  max_eval_samples: 60
model:
  base: {tiny_bert}
train: {{max_length: 32, batch_size: 16, epochs: 1, learning_rate: 3.0e-3, seed: 3}}
search: {{metric: {metric}, mode: max, algorithm: random, num_samples: 1, space: null}}
scheduler: {{type: none}}
scaling: {{workers_per_trial: 1, cpus_per_worker: 1.9, trial_driver_cpus: 0.1}}
tracking: {{uri: "sqlite:///{tmp / 'mlflow.db'}", experiment: own-data}}
storage_path: {tmp / 'results'}
baselines: {{frozen_probe: false}}
verbose: 0
""",
        encoding="utf-8",
    )
    return path


def _runs(tmp: Path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("own-data").experiment_id])
    parent = next(r for r in runs if r.data.tags["finesweep.role"] == "sweep")
    trials = [r for r in runs if r.data.tags["finesweep.role"] == "trial"]
    summary = json.loads(Path(client.download_artifacts(parent.info.run_id, "data_summary.json", str(tmp))).read_text())
    return parent, trials, summary


@pytest.mark.slow
def test_headerless_tsv_with_label_ids_sweeps_from_the_command_line(tmp_path, tiny_bert, carer):
    _labelled(tmp_path, carer, "emotions.tsv")
    dataset = f"""\
  path: emotions.tsv
  header: false
  text_column: 1
  label_column: 2
  label_ids: true
  label_names: [{", ".join(CARER_NAMES)}]"""
    done = _finesweep("sweep", str(_sweep_job(tmp_path, tiny_bert, dataset, "val_macro_f1")), "--name", "single",
                      cwd=tmp_path, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 trials: 1 completed" in done.stdout, done.stdout
    parent, trials, summary = _runs(tmp_path)
    assert [t.data.tags["finesweep.status"] for t in trials] == ["completed"]
    assert summary["label_names"] == CARER_NAMES
    assert summary["counts"] == {"train": 120, "validation": 40, "test": 40}, "10% of 400 rows each, train subsampled"
    assert 0 <= trials[0].data.metrics["val_macro_f1"] <= 1
    charted = {k.removeprefix("val_f1_") for k in trials[0].data.metrics if k.startswith("val_f1_")}
    assert len(charted) == 3 and charted <= set(CARER_NAMES), "the ids' names key the 3 most frequent labels' F1"


@pytest.mark.slow
@pytest.mark.heavy
def test_headerless_gzip_tsv_with_multi_label_ids_sweeps(tmp_path, tiny_bert, goemotions, ray_clean):
    from finesweep.tuning.sweep import run_sweep

    names, rows = goemotions
    _labelled(tmp_path, rows, "goemotions.tsv.gz")
    dataset = f"""\
  path: goemotions.tsv.gz
  header: false
  text_column: 1
  label_column: 2
  multi_label: true
  label_ids: true
  label_names: [{", ".join(names)}]"""
    summary = run_sweep(load_job(_sweep_job(tmp_path, tiny_bert, dataset, "val_micro_f1")), name="multi")
    assert summary.count("completed") == 1, summary.statuses
    parent, trials, data = _runs(tmp_path)
    assert data["label_names"] == names and data["source"].endswith("goemotions.tsv.gz")
    metrics = trials[0].data.metrics
    assert 0 <= metrics["val_micro_f1"] <= 1 and 0 <= metrics["test_micro_f1"] <= 1
