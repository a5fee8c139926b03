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


def _init(path: Path, tmp_path: Path, task: str | None = None, name: str = "job.yaml") -> tuple[InitResult, LoadedJob]:
    """init in-process, and the written job loaded back as a sweep loads it (raising on any problem)."""
    result = init_job(path, task, tmp_path / name)
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
