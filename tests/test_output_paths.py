"""Output paths (``--output``) checked before any work: one line, exit 2, nothing written, no hang.

Each command runs as a user runs it (``python -m finesweep``, in tmp_path). The cases are the
ones a hostile-input run found (issue 43, item 5): folders, missing folders, ``''``, ``/proc``,
a path under a regular file, a read-only folder, ``/dev/full`` and a FIFO for ``schema``; an
existing file, ``.`` and ``/proc/self/x`` for ``train``, which must refuse them before training.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from finesweep.files import output_file_problem, output_folder_problem

REPO = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "finesweep", *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ))  # fmt: skip


def _one_error(run: subprocess.CompletedProcess[str], *words: str) -> str:
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --output "), run.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def _targets(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """(the --output value, words its one line holds) for each schema case, made under tmp_path."""
    (tmp_path / "folder").mkdir()
    (tmp_path / "regular").write_text("mine\n", encoding="utf-8")
    os.mkfifo(tmp_path / "fifo")
    return {
        "folder": ("folder", "is a folder"),
        "missing_folder": ("nowhere/schema.json", "the folder nowhere does not exist"),
        "empty": ("", "current folder"),
        "proc": ("/proc/self/x.json", "cannot create a file in /proc/self"),
        "under_a_regular_file": ("regular/schema.json", "is a file, not a folder"),
        "dev_full": ("/dev/full", "not a regular file"),
        "fifo": ("fifo", "not a regular file"),
    }


@pytest.mark.parametrize("case", ["folder", "missing_folder", "empty", "proc", "under_a_regular_file", "dev_full", "fifo"])
def test_schema_output_that_cannot_be_a_file_is_one_line(tmp_path: Path, case: str) -> None:
    """schema --output: one line, exit 2, within seconds (a FIFO is never opened), nothing written."""
    value, words = _targets(tmp_path)[case]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    started = time.monotonic()
    run = _run(tmp_path, "schema", "job", "--output", value, timeout=30)
    assert time.monotonic() - started < 30
    _one_error(run, words)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert (tmp_path / "regular").read_text(encoding="utf-8") == "mine\n"


def test_schema_output_in_a_read_only_folder(tmp_path: Path) -> None:
    """A folder without write permission: refused by the probe (root writes anywhere, so there the
    probe rightly finds the folder writable and the schema is written)."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        run = _run(tmp_path, "schema", "job", "--output", "locked/schema.json")
        if os.geteuid() == 0:
            assert run.returncode == 0 and (folder / "schema.json").is_file(), run.stderr
        else:
            _one_error(run, "cannot create a file in locked")
            assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_schema_output_replaces_its_own_regular_file(tmp_path: Path) -> None:
    """A regular file is regenerated in place; no probe file is left behind."""
    target = tmp_path / "schema.json"
    target.write_text("{}\n", encoding="utf-8")
    run = _run(tmp_path, "schema", "job", "--output", "schema.json")
    assert run.returncode == 0, run.stderr
    assert '"properties"' in target.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["schema.json"]


@pytest.mark.parametrize(("value", "words"), [("existing", "is a file, not a folder"), (".", "current folder"),
                                              ("/proc/self/x", "cannot create a folder in /proc/self"),
                                              ("existing/model", "is a file, not a folder")])  # fmt: skip
def test_train_output_is_refused_before_training(tmp_path: Path, value: str, words: str) -> None:
    """train --output: refused after the job loads and before its data is read or a model loads
    (no epoch line, seconds not minutes), and nothing is written."""
    (tmp_path / "existing").write_text("mine\n", encoding="utf-8")
    started = time.monotonic()
    run = _run(tmp_path, "train", str(REPO / "jobs" / "quickstart.yaml"), "--no-tracking", "--output", value, timeout=120)
    elapsed = time.monotonic() - started
    _one_error(run, words)
    assert "epoch" not in run.stdout and elapsed < 60, (elapsed, run.stdout)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]
    assert (tmp_path / "existing").read_text(encoding="utf-8") == "mine\n"


def test_the_shared_checks_accept_what_can_be_written(tmp_path: Path) -> None:
    """The helpers say None for a new file in a folder, a regular file to replace, a missing folder
    under a writable one and an existing folder; they leave no probe behind."""
    (tmp_path / "old.json").write_text("{}", encoding="utf-8")
    assert output_file_problem(tmp_path / "new.json") is None
    assert output_file_problem(tmp_path / "old.json", replace=True) is None
    assert output_file_problem(tmp_path / "old.json") is not None  # init never overwrites
    assert output_folder_problem(tmp_path / "a" / "b" / "model") is None
    assert output_folder_problem(tmp_path) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.json"]


def test_init_output_goes_through_the_same_check(tmp_path: Path) -> None:
    """init --output under a regular file or in /proc: one line before the data is read."""
    (tmp_path / "regular").write_text("mine\n", encoding="utf-8")
    data = Path(os.environ["FINESWEEP_DATA_DIR"]) / "korean_hate_speech" / "dev.tsv"
    for value, words in (("regular/job.yaml", "is a file, not a folder"), ("/proc/self/job.yaml", "/proc/self"),
                         ("/dev/full", "not a regular file")):  # fmt: skip
        run = _run(tmp_path, "init", str(data), "--output", value)
        assert run.returncode == 2, run.stderr
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["regular"]
