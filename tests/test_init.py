"""``finesweep init``: a commented, validated job file for a user's own data file.

Real files only: the shared datasets as they ship ($FINESWEEP_DATA_DIR, set by conftest), and files
written under tmp_path from their real rows (a gzipped CSV, a headerless TSV, KorQuAD pairs as JSON
lines). Every written job is loaded back with ``load_job``; nothing sweeps, starts Ray or loads a
model, so the file stays fast.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from finesweep.config import LoadedJob, load_job
from finesweep.errors import ConfigError, DataError
from finesweep.data.detect import ColumnOverrides
from finesweep.init_job import InitResult, init_job


@pytest.fixture(scope="module")
def data() -> Path:
    """The shared datasets, as tests/conftest.py points $FINESWEEP_DATA_DIR at them."""
    path = Path(os.environ["FINESWEEP_DATA_DIR"])
    if not path.is_dir():
        pytest.fail(f"FINESWEEP_DATA_DIR={path} does not exist; these tests read the shared datasets")
    return path


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m finesweep init ARGS`` in tmp_path, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "finesweep", "init", *args], cwd=tmp_path, capture_output=True, text=True,
        timeout=300, env=dict(os.environ),
    )  # fmt: skip


def _init(path: Path, tmp_path: Path, task: str | None = None, name: str = "job.yaml",
          columns: ColumnOverrides | None = None) -> tuple[InitResult, LoadedJob]:  # fmt: skip
    """init in-process, and the written job loaded back as a sweep loads it (raising on any problem)."""
    result = init_job(path, task, tmp_path / name, columns)
    assert result.output.read_text(encoding="utf-8") == result.text
    return result, load_job(result.output)


def _rows_of(path: Path) -> list[list[str]]:
    """A TSV's lines split on tabs (the shared TSVs have no quoting)."""
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


# ---------------------------------------------------------------------------------------------
# the shared datasets as they ship


def test_davidson_several_label_like_columns_is_a_commented_choice_and_a_note(data: Path, tmp_path: Path) -> None:
    """Five numeric columns could be labels: `class` is chosen, the others are `# or:` lines, and
    a note says so; the integer labels have no names file: a placeholder and a note."""
    run = _cli(tmp_path, str(data / "davidson_hate" / "labeled_data.csv"), "--output", "davidson.yaml")
    assert run.returncode == 0, run.stderr
    job = tmp_path / "davidson.yaml"
    loaded = load_job(job)
    assert loaded.job.task == "text_classification"
    assert loaded.job.dataset.text_column == "tweet"
    assert loaded.job.dataset.label_column == "class"
    assert loaded.job.dataset.header is True and loaded.job.dataset.label_ids is False
    # 19,190 against 1,430: more than 3x, so the loss is balanced
    assert loaded.params.balancing == "class_weight"
    assert "balancing" not in loaded.space  # fixed in train, so the space does not override it
    text = job.read_text(encoding="utf-8")
    for alternative in ("count", "hate_speech", "offensive_language", "neither"):
        assert f"# or: label_column: {alternative}" in text
    assert "# label_names: [name_0, name_1, name_2]" in text
    assert "# Classes (texts per class, of 24,783; 3 in all): 1: 19,190 (77.4%)" in text
    notes = [line for line in run.stdout.splitlines() if line.startswith("note: ")]
    assert any("label column: 'class' chosen" in note for note in notes)
    assert any("label ids" in note for note in notes)
    assert "finesweep sweep davidson.yaml" in run.stdout


def test_emotion_carer_text_semicolon_label_lines_name_the_catalog_dataset(data: Path, tmp_path: Path) -> None:
    """CARER ships `text;label` lines, which no reader splits; the file is the catalog's own, byte
    for byte, so the job names the catalog dataset (and says why) instead of refusing it."""
    result, loaded = _init(data / "emotion_carer" / "train.txt", tmp_path)
    assert loaded.job.task == "text_classification"
    assert loaded.job.dataset.name == "emotion_carer" and loaded.job.dataset.path is None
    assert loaded.params.balancing == "class_weight"  # joy 5,362 against surprise 572
    assert "separated by ';'" in result.text
    assert any(line.startswith("note: catalog:") for line in result.lines)


def test_semicolon_lines_of_ones_own_are_refused_in_one_line(data: Path, tmp_path: Path) -> None:
    """The same `text;label` lines outside the catalog: refused, saying what to convert them to."""
    mine = tmp_path / "mine.txt"
    mine.write_text("\n".join((data / "emotion_carer" / "train.txt").read_text(encoding="utf-8").splitlines()[:300]) + "\n",
                    encoding="utf-8")  # fmt: skip
    with pytest.raises(DataError) as error:
        init_job(mine, None, tmp_path / "job.yaml")
    assert "separated by ';'" in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "job.yaml").exists()


def test_korean_hate_speech_tsv_with_header(data: Path, tmp_path: Path) -> None:
    """A tsv with a header: `comments` is the text; three label-like columns, `hate` chosen."""
    result, loaded = _init(data / "korean_hate_speech" / "train.tsv", tmp_path)
    dataset = loaded.job.dataset
    assert (dataset.header, dataset.text_column, dataset.label_column) == (True, "comments", "hate")
    assert dataset.multi_label is False
    assert "# or: label_column: bias" in result.text and "# or: label_column: contain_gender_bias" in result.text
    assert any(line.startswith("note: label column: 'hate'") for line in result.lines)
    # 3,486 against 1,911: within 3x, so balancing stays searched by the space
    assert "balancing" in loaded.space
    assert result.detection.layout is not None and result.detection.layout.format == "tsv"
    # dev.tsv next to train.tsv is offered as the validation split, commented
    assert "# validation_path:" in result.text


def test_goemotions_headerless_multi_label_ids_named_by_label_txt(data: Path, tmp_path: Path) -> None:
    """GoEmotions: no header, `text<TAB>0,6,10`; ids into label.txt, which names them."""
    result, loaded = _init(data / "goemotions_ko" / "train.tsv", tmp_path)
    dataset = loaded.job.dataset
    assert (dataset.header, dataset.text_column, dataset.label_column) == (False, 0, 1)
    assert dataset.multi_label is True and dataset.label_separator == ","
    names = (data / "goemotions_ko" / "label.txt").read_text(encoding="utf-8").split()
    assert dataset.label_ids is True and dataset.label_names == names
    assert "from label.txt next to the data" in result.text
    assert loaded.job.search.metric == "val_micro_f1"
    assert loaded.params.balancing == "class_weight"  # neutral 14,219 against grief 77


def test_scifact_claims_are_not_pairs_and_their_empty_labels_are_refused(data: Path, tmp_path: Path) -> None:
    """claims_train.csv holds one text column (the claim), so it is no pairs file; its label,
    evidence_label, is empty in 304 rows, which the readers refuse: one line, nothing written."""
    path = data / "scifact_beir" / "claims_train.csv"
    with pytest.raises(DataError) as error:
        init_job(path, None, tmp_path / "job.yaml")
    assert "'evidence_label'" in str(error.value) and "304" in str(error.value)
    with pytest.raises(DataError) as error:
        init_job(path, "contrastive_embedding", tmp_path / "job.yaml")
    assert "two text columns" in str(error.value)
    assert not (tmp_path / "job.yaml").exists()


# ---------------------------------------------------------------------------------------------
# files written from real rows


def test_gzipped_csv(data: Path, tmp_path: Path) -> None:
    """A .csv.gz (real Korean comments, quoted by the csv module) reads as csv with a header."""
    rows = _rows_of(data / "korean_hate_speech" / "train.tsv")[:601]
    path = tmp_path / "comments.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    result, loaded = _init(path, tmp_path)
    layout = result.detection.layout
    assert layout is not None and (layout.format, layout.gzip, layout.header) == ("csv", True, True)
    dataset = loaded.job.dataset
    assert (dataset.path, dataset.text_column, dataset.label_column) == ("comments.csv.gz", "comments", "hate")
    assert "gzip-compressed" in result.text
    assert "search_spaces/quickstart.yaml" in result.text  # 600 texts: the small-data space (LoRA)


def test_headerless_tsv_with_label_ids_and_no_names_file(data: Path, tmp_path: Path) -> None:
    """GoEmotions rows without label.txt beside them: the ids stay class names, and the job holds
    a commented label_names placeholder and says so."""
    path = tmp_path / "comments.tsv"
    lines = (data / "goemotions_ko" / "train.tsv").read_text(encoding="utf-8").splitlines()[:1500]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result, loaded = _init(path, tmp_path)
    dataset = loaded.job.dataset
    assert (dataset.header, dataset.text_column, dataset.label_column, dataset.multi_label) == (False, 0, 1, True)
    assert dataset.label_ids is False and dataset.label_names is None
    assert "# label_ids: true" in result.text
    assert any(line.startswith("note: label ids") for line in result.lines)


def _korquad_pairs(data: Path, path: Path, articles: int = 20) -> int:
    """Real KorQuAD rows as JSON lines: question, its paragraph (context) and article (title)."""
    articles_json = json.loads((data / "korquad_v1" / "KorQuAD_v1.0_dev.json").read_text(encoding="utf-8"))["data"]
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for article in articles_json[:articles]:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    record = {"id": qa["id"], "question": qa["question"], "context": paragraph["context"],
                              "title": article["title"]}  # fmt: skip
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                    count += 1
    return count


def test_jsonl_pairs_with_a_group_column(data: Path, tmp_path: Path) -> None:
    """KorQuAD pairs: question the query, context the passage, title the group (constant per
    paragraph); the task defaults to contrastive_embedding, and sparse_encoder is accepted."""
    path = tmp_path / "pairs.jsonl"
    rows = _korquad_pairs(data, path)
    result, loaded = _init(path, tmp_path)
    assert loaded.job.task == "contrastive_embedding"
    dataset = loaded.job.dataset
    assert (dataset.query_column, dataset.passage_column, dataset.group_column) == ("question", "context", "title")
    assert result.detection.rows == rows
    sparse, loaded = _init(path, tmp_path, task="sparse_encoder", name="sparse.yaml")
    assert loaded.job.task == "sparse_encoder" and loaded.job.dataset.group_column == "title"
    assert "search_spaces/sparse.yaml" in sparse.text


# ---------------------------------------------------------------------------------------------
# refusals: exit 2 with one `error:` line


def test_an_existing_output_is_never_overwritten(data: Path, tmp_path: Path) -> None:
    """--output naming a file: exit 2, one line saying so, and the file untouched."""
    job = tmp_path / "job.yaml"
    job.write_text("# mine\n", encoding="utf-8")
    run = _cli(tmp_path, str(data / "korean_hate_speech" / "train.tsv"), "--output", "job.yaml")
    assert run.returncode == 2
    errors = run.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: job.yaml: already exists"), run.stderr
    assert job.read_text(encoding="utf-8") == "# mine\n"


def test_a_one_class_file_is_refused(data: Path, tmp_path: Path) -> None:
    """Real comments all labelled `none`: a classifier needs two classes; exit 2, one line."""
    rows = [row for row in _rows_of(data / "korean_hate_speech" / "train.tsv") if row[3] in ("hate", "none")]
    path = tmp_path / "one_class.tsv"
    kept = [rows[0]] + [row for row in rows[1:] if row[3] == "none"][:300]  # the header, then one class
    path.write_text("\n".join(f"{row[0]}\t{row[3]}" for row in kept) + "\n", encoding="utf-8")
    run = _cli(tmp_path, str(path))
    assert run.returncode == 2
    errors = run.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: ") and "one class" in errors[0], run.stderr
    assert not (tmp_path / "job.yaml").exists()


def test_an_unknown_task_is_refused(data: Path, tmp_path: Path) -> None:
    """--task names one of the three tasks init writes."""
    with pytest.raises(ConfigError) as error:
        init_job(data / "korean_hate_speech" / "train.tsv", "summarization", tmp_path / "job.yaml")
    assert error.value.problems == [
        "--task: init writes jobs for text_classification, contrastive_embedding, sparse_encoder (got 'summarization')"
    ]


# ---------------------------------------------------------------------------------------------
# text from the data or a path never ends a line of the job (issue 44, defect 2)

# what a hostile label or file name carries: a line end YAML honours, then a job key
_INJECTED = "  max_train_samples: 10"
_LINE_ENDS = {"U+2028": "\u2028", "U+2029": "\u2029", "NEL": "\x85", "CR": "\r", "VT": "\x0b", "ESC": "\x1b[2K"}


def _hostile_emotions(data: Path, path: Path, end: str) -> dict[str, str]:
    """Real emotion_carer rows as a CSV whose labels carry ``end`` and a job key; returns each
    original label's hostile name."""
    rows = [line.rsplit(";", 1) for line in (data / "emotion_carer" / "train.txt").read_text(encoding="utf-8").splitlines()[:600]]
    renamed = {label: f"{label}{end}{_INJECTED}" for label in {label for _, label in rows}}
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["text", "label"], *([text, renamed[label]] for text, label in rows)])
    return renamed


def _meant(data_file: Path) -> dict[str, object]:
    """The dataset section init means to write for this CSV (a header, text and label): its keys only."""
    return {"path": data_file.name, "header": True, "text_column": "text", "label_column": "label",
            "validation_fraction": 0.1, "test_fraction": 0.1, "split_seed": 13}  # fmt: skip


@pytest.mark.parametrize("end", list(_LINE_ENDS.values()), ids=list(_LINE_ENDS))
def test_labels_and_a_file_name_holding_line_ends_write_no_job_key(data: Path, tmp_path: Path, end: str) -> None:
    """Through the CLI: labels and the file's name carry a line end and `max_train_samples: 10`
    (the name also `name: evil`); the job init writes loads back as exactly what init meant: the
    dataset section has its own keys only, the name is init's, and the texts appear escaped."""
    from finesweep.config.loader import parse_yaml_text

    data_file = tmp_path / f"emo{end}name: evil{end}x.csv"
    renamed = _hostile_emotions(data, data_file, end)
    before = data_file.read_bytes()
    run = _cli(tmp_path, data_file.name)
    assert run.returncode == 0, run.stderr
    text = (tmp_path / "job.yaml").read_text(encoding="utf-8")
    assert text.splitlines() == text.split("\n")[:-1], "no character any reader takes as a line end"
    raw = parse_yaml_text(text)
    assert raw["dataset"] == _meant(data_file), raw["dataset"]
    assert raw["name"] != "evil" and list(raw) == ["name", "task", "dataset", "model", "train", "search",
                                                   "scheduler", "scaling", "tracking", "storage_path"]  # fmt: skip
    loaded = load_job(tmp_path / "job.yaml")
    assert Path(loaded.job.dataset.path).name == data_file.name and loaded.job.dataset.max_train_samples is None
    classes = next(line for line in text.splitlines() if "# Classes" in line)
    assert end[0] not in text and f"joy{escape(end)}" in text.replace(classes, classes + " "), classes
    assert all(label.replace(end[0], escape(end)) in text.replace("\n  # ", " ") for label in renamed.values())
    assert data_file.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == sorted([data_file.name, "job.yaml"])


def escape(end: str) -> str:
    """How init writes ``end`` in the job file: its first character as a \\uXXXX escape."""
    return f"\\u{ord(end[0]):04x}"


# ---------------------------------------------------------------------------------------------
# shapes users have (issue 43, item 1): label ids, headerless files with an id column, small files


def _kote(data: Path, path: Path, rows: int = 300) -> list[list[str]]:
    """KOTE's layout from real rows: a headerless TSV of `id <TAB> Korean text <TAB> ids joined by
    ','`, every row with several labels (GoEmotions-Korean's multi-label rows, numbered from 1)."""
    lines = [row for row in _rows_of(data / "goemotions_ko" / "train.tsv") if "," in row[1]][:rows]
    kept = [[str(number), text, labels] for number, (text, labels) in enumerate(lines, start=1)]
    path.write_text("\n".join("\t".join(row) for row in kept) + "\n", encoding="utf-8")
    return kept


def _validate_cli(tmp_path: Path, job: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "finesweep", "validate", str(job)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env=dict(os.environ))  # fmt: skip


def test_kote_layout_is_multi_label_classification_with_label_ids(data: Path, tmp_path: Path) -> None:
    """id, text, `0,6,10`-style ids in every row (no row holds one label alone): multi-label
    text_classification, never pairs; the joined ids are no text column, the id column no label."""
    path = tmp_path / "kote.tsv"
    rows = _kote(data, path)
    result, loaded = _init(path, tmp_path)
    dataset = loaded.job.dataset
    assert loaded.job.task == "text_classification" and result.detection.suggested_task == "text_classification"
    assert (dataset.header, dataset.text_column, dataset.label_column) == (False, 1, 2)
    assert dataset.multi_label is True and dataset.label_separator == ","
    assert loaded.job.search.metric == "val_micro_f1"
    labels = result.detection.labels
    assert labels is not None and labels.ids and labels.multi_share == 1.0
    used = {label for row in rows for label in row[2].split(",")}
    assert {count.name for count in labels.counts} == used
    assert "# label_ids: true" in result.text  # no names file beside it: the ids name the classes
    assert "query_column" not in result.text and "contrastive" not in result.text.split("dataset:")[0]
    run = _validate_cli(tmp_path, result.output)
    assert run.returncode == 0 and run.stdout.startswith("ok: "), run.stderr


def test_kote_layout_with_a_names_file_beside_it_names_the_ids(data: Path, tmp_path: Path) -> None:
    """The same file with GoEmotions' label.txt beside it: label_ids true and the names listed."""
    path = tmp_path / "kote.tsv"
    _kote(data, path)
    names = (data / "goemotions_ko" / "label.txt").read_text(encoding="utf-8")
    (tmp_path / "label.txt").write_text(names, encoding="utf-8")
    result, loaded = _init(path, tmp_path)
    dataset = loaded.job.dataset
    assert dataset.multi_label is True and dataset.label_ids is True and dataset.label_names == names.split()
    assert "from label.txt next to the data" in result.text
    run = _validate_cli(tmp_path, result.output)
    assert run.returncode == 0, run.stderr


def test_kote_layout_refuses_pairs_and_takes_named_columns(data: Path, tmp_path: Path) -> None:
    """--task contrastive_embedding finds one text column and says how to name two; the column
    options by position give the job detection would, marked as given."""
    path = tmp_path / "kote.tsv"
    _kote(data, path)
    with pytest.raises(DataError) as error:
        init_job(path, "contrastive_embedding", tmp_path / "pairs.yaml")
    assert "two text columns" in str(error.value) and "--query-column" in str(error.value)
    result, loaded = _init(path, tmp_path, columns=ColumnOverrides(text="1", label="2"))
    assert (loaded.job.dataset.text_column, loaded.job.dataset.label_column) == (1, 2)
    assert loaded.job.dataset.multi_label is True
    assert "given with --label-column" in result.text and "given with --text-column" in result.text


def _goemotions_own(data: Path, path: Path, header: bool) -> None:
    """GoEmotions' own layout (text, labels, id) from 300 real rows; the ids are Reddit-style
    comment ids made from the row number (the Korean copy ships none)."""
    rows = [row[:2] + [f"ed{number:05x}"] for number, row in enumerate(_rows_of(data / "goemotions_ko" / "train.tsv")[:300])]
    if header:
        with path.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows([["text", "labels", "id"], *rows])
    else:
        path.write_text("\n".join("\t".join(row) for row in rows) + "\n", encoding="utf-8")


@pytest.mark.parametrize("header", [False, True], ids=["headerless_tsv", "csv_with_header"])
def test_goemotions_own_layout_text_labels_id(data: Path, tmp_path: Path, header: bool) -> None:
    """text, joined label ids, a comment id: the id column is neither text nor label."""
    path = tmp_path / ("goemotions.csv" if header else "goemotions.tsv")
    _goemotions_own(data, path, header)
    result, loaded = _init(path, tmp_path)
    dataset = loaded.job.dataset
    expected = ("text", "labels") if header else (0, 1)
    assert (dataset.header, (dataset.text_column, dataset.label_column)) == (header, expected)
    assert dataset.multi_label is True and loaded.job.task == "text_classification"
    assert result.detection.labels is not None and result.detection.labels.ids


def _head(source: Path, target: Path, rows: int = 300) -> None:
    """The first ``rows`` records of a shipped file (after its header line, if any), written under
    tmp_path: csv through the csv module (Davidson's tweets hold line breaks), the rest by lines."""
    if source.suffix == ".csv":
        with source.open(encoding="utf-8", newline="") as handle:
            records = list(csv.reader(handle))[: rows + 1]
        with target.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows(records)
        return
    lines = source.read_text(encoding="utf-8").splitlines()
    header = 1 if source.suffix in (".tsv",) and "goemotions" not in str(source) else 0
    target.write_text("\n".join(lines[: rows + header]) + "\n", encoding="utf-8")


# (shipped file, task, text column, label column or (query, passage), multi-label)
_HEADS = {
    "davidson_hate/labeled_data.csv": ("text_classification", "tweet", "class", False),
    "korean_hate_speech/train.tsv": ("text_classification", "comments", "hate", False),
    "korean_hate_speech/dev.tsv": ("text_classification", "comments", "hate", False),
    "goemotions_ko/train.tsv": ("text_classification", 0, 1, True),
    "goemotions_ko/dev.tsv": ("text_classification", 0, 1, True),
    "goemotions_ko/test.tsv": ("text_classification", 0, 1, True),
    "scifact_beir/corpus_train.csv": ("text_classification", "abstract", "structured", False),
}


@pytest.mark.parametrize("name", list(_HEADS))
def test_300_row_heads_of_the_shipped_files(data: Path, tmp_path: Path, name: str) -> None:
    """300 rows of each shipped table: the same reading as the whole file, a job that loads, and
    (for GoEmotions' heads, 26-28 labels in 300 rows) the multi-label ids a small file holds."""
    path = tmp_path / name.replace("/", "_")
    _head(data / name, path)
    task, text, label, multi = _HEADS[name]
    result, loaded = _init(path, tmp_path)
    dataset = loaded.job.dataset
    assert result.detection.rows == 300
    assert (loaded.job.task, dataset.text_column, dataset.label_column, dataset.multi_label) == (task, text, label, multi)


@pytest.mark.parametrize("name", ["goemotions_ko/dev.tsv", "goemotions_ko/test.tsv", "korean_hate_speech/dev.tsv",
                                  "scifact_beir/corpus_train.csv"])  # fmt: skip
def test_whole_shipped_files_read_as_their_heads(data: Path, tmp_path: Path, name: str) -> None:
    """The whole file reads as its head does (train files are covered above)."""
    task, text, label, multi = _HEADS[name]
    result, loaded = _init(data / name, tmp_path)
    dataset = loaded.job.dataset
    assert (loaded.job.task, dataset.text_column, dataset.label_column, dataset.multi_label) == (task, text, label, multi)
    if name.startswith("goemotions"):
        assert dataset.label_ids is True  # label.txt is next to the shipped files


def test_two_text_columns_offer_the_other_task_as_an_or_line(data: Path, tmp_path: Path) -> None:
    """SciFact's corpus has a title and an abstract besides a label-like column: classification,
    with `# or: task: contrastive_embedding`."""
    result, _ = _init(data / "scifact_beir" / "corpus_train.csv", tmp_path)
    assert result.detection.other_task == "contrastive_embedding"
    assert "# or: task: contrastive_embedding" in result.text
    assert any(line.startswith("or task: contrastive_embedding") for line in result.lines)


@pytest.mark.parametrize(("name", "task"), [("nsmc_raw_subset/raw/10001.json", "text_classification"),
                                             ("korquad_v1/KorQuAD_v1.0_dev.json", "contrastive_embedding")])  # fmt: skip
def test_catalog_documents_name_their_dataset(data: Path, tmp_path: Path, name: str, task: str) -> None:
    """A shipped JSON document (NSMC's per-movie reviews, KorQuAD's SQuAD file) is no table; it is
    a catalog dataset's own file, so the job names that dataset."""
    result, loaded = _init(data / name, tmp_path)
    assert loaded.job.task == task and loaded.job.dataset.name == result.detection.catalog.name


def test_pair_columns_given_on_the_command_line(data: Path, tmp_path: Path) -> None:
    """--query-column and --passage-column override the names' reading (here swapped on purpose)
    and imply a retrieval task; the title stays the group."""
    path = tmp_path / "pairs.jsonl"
    _korquad_pairs(data, path)
    result, loaded = _init(path, tmp_path, columns=ColumnOverrides(query="context", passage="question"))
    dataset = loaded.job.dataset
    assert loaded.job.task == "contrastive_embedding"
    assert (dataset.query_column, dataset.passage_column, dataset.group_column) == ("context", "question", "title")
    assert "given with --query-column" in result.text


# ---------------------------------------------------------------------------------------------
# files and options that are refused: one line, exit 2, nothing written


def _many_labels(data: Path, path: Path) -> None:
    """30,000 real texts, 3 rows for each of 10,000 labels."""
    texts = [row[0] for row in _rows_of(data / "goemotions_ko" / "train.tsv")[:30000]]
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["text", "label"], *([text, f"topic_{i // 3:05d}"] for i, text in enumerate(texts))])


def _one_row(data: Path, path: Path) -> None:
    path.write_text(_rows_of(data / "goemotions_ko" / "train.tsv")[0][0] + "\t27\n", encoding="utf-8")


def _five_rows(data: Path, path: Path) -> None:
    path.write_text("\n".join("\t".join(row) for row in _rows_of(data / "goemotions_ko" / "train.tsv")[:5]) + "\n",
                    encoding="utf-8")  # fmt: skip


# (how the file is made, its name, extra options, words the one line must hold)
_REFUSED = {
    "one_row_headerless_tsv": (_one_row, "one.tsv", (), ("one line and 0 rows", "at least 10 rows")),
    "five_rows": (_five_rows, "five.tsv", (), ("5 rows: too few", "at least 10")),
    "too_many_labels": (_many_labels, "many.csv", (), ("10,000 of them in 30,000 rows", "too many labels",
                                                       "--label-column label")),  # fmt: skip
    "too_many_labels_forced": (_many_labels, "many.csv", ("--label-column", "label"), ("(not written)", "10000 classes")),
    "unknown_label_column": (_kote, "kote.tsv", ("--label-column", "labels"), ("no header line", "0 to 2")),
    "position_past_the_end": (_kote, "kote.tsv", ("--text-column", "3"), ("--text-column '3'", "0 to 2")),
    "unknown_name": (_goemotions_own, "ge.csv", ("--label-column", "label"), ("no such column", "'text', 'labels', 'id'")),
    "position_in_a_header_file": (_goemotions_own, "ge.csv", ("--label-column", "1"), ("name a column", "'labels'")),
    "mixed_kinds": (_kote, "kote.tsv", ("--label-column", "2", "--query-column", "1"), ("give one kind",)),
    "task_against_columns": (_kote, "kote.tsv", ("--task", "sparse_encoder", "--label-column", "2"), ("does not read",)),
}


@pytest.mark.parametrize("case", list(_REFUSED))
def test_refused_files_and_options(data: Path, tmp_path: Path, case: str) -> None:
    """Each: exit 2, one `error:` line naming what is wrong (counts, columns), and no job written."""
    make, name, options, words = _REFUSED[case]
    path = tmp_path / name
    if make is _goemotions_own:
        make(data, path, True)
    else:
        make(data, path)
    before = sorted(p.name for p in tmp_path.iterdir())
    run = _cli(tmp_path, name, *options)
    assert run.returncode == 2, run.stdout + run.stderr
    errors = run.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: "), run.stderr
    for word in words:
        assert word in errors[0], errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no job, no staged file


@pytest.mark.parametrize("multi", [False, True], ids=["single_ids", "joined_ids"])
def test_sparse_label_ids_beside_a_row_id_column(data: Path, tmp_path: Path, multi: bool) -> None:
    """Real Korean comments with their hate labels written as sparse ids (3, 17, 42: not 0..K-1),
    behind a row-number column, no header: the row numbers are no label, the ids are; joined ids
    (a second, 17 for `offensive` texts also marked 3) make the column multi-label."""
    rows = _rows_of(data / "korean_hate_speech" / "train.tsv")[1:301]
    ids = {"none": "3", "offensive": "17", "hate": "42"}
    lines = []
    for number, row in enumerate(rows, start=1):
        label = ids[row[3]] + (",3" if multi and row[3] == "offensive" and number % 2 else "")
        lines.append(f"{number}\t{row[0]}\t{label}")
    path = tmp_path / "sparse.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result, loaded = _init(path, tmp_path)
    dataset = loaded.job.dataset
    assert (dataset.header, dataset.text_column, dataset.label_column, dataset.multi_label) == (False, 1, 2, multi)
    labels = result.detection.labels
    assert labels is not None and labels.ids and {c.name for c in labels.counts} == {"3", "17", "42"}
    assert "# label_names: [name_0, name_1, name_2, name_3, name_4, name_5, ...]" in result.text


def test_a_job_on_a_one_row_multi_label_file_names_its_counts(data: Path, tmp_path: Path) -> None:
    """The job init wrote for the KOTE layout, pointed at a one-row copy (as a user edits it): the
    data preparation refuses it naming the rows, not with scikit-learn's ValueError."""
    from finesweep.tasks import get_task

    path = tmp_path / "kote.tsv"
    _kote(data, path)
    result, _ = _init(path, tmp_path)
    one = tmp_path / "one.tsv"
    one.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    loaded = load_job(result.output, [f"dataset.path={one}"])
    with pytest.raises(DataError) as error:
        get_task(loaded.job.task).prepare_data(loaded)
    assert "1 row(s) are too few to carve a 10% split" in str(error.value) and str(one) in str(error.value)
