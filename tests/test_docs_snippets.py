"""The manual's snippets against the real code: every YAML job or search-space snippet in README.md
and docs/*.md goes through finesweep's own loader, every ``finesweep ...`` line of a shell block is
parsed against the real command line (the command exists, each option is one it takes), and the
outputs a page shows that are cheap to produce (``plan``, ``validate``, the ``sweeps`` columns) are
produced and compared. Each checker is also fed a deliberately stale snippet, which it must refuse."""

from __future__ import annotations

import copy
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# a job snippet is merged onto the shipped preset of its task, then loaded as a job file
BASE_JOBS = {
    "text_classification": REPO / "jobs" / "quickstart.yaml",
    "contrastive_embedding": REPO / "jobs" / "korquad_contrastive.yaml",
    "sparse_encoder": REPO / "jobs" / "korquad_sparse.yaml",
}
# what a shown file path may point at when a snippet names it relative to the job file
NEIGHBOURS = {"carer_minilm.csv": REPO / "bench" / "curves" / "carer_minilm.csv"}


@dataclass(frozen=True)
class Snippet:
    """One fenced block of a page: where it is, its language and its text."""

    page: str
    line: int
    language: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def snippets(text: str, page: str) -> list[Snippet]:
    """Every fenced code block of a Markdown text, with the line its fence opens on."""
    found = []
    for match in re.finditer(r"^```(\w*)[^\n]*\n(.*?)^```", text, flags=re.S | re.M):
        found.append(Snippet(page, text[: match.start()].count("\n") + 1, match.group(1), match.group(2)))
    return found


def all_snippets(language: set[str]) -> list[Snippet]:
    """The blocks of every page in these languages."""
    return [s for page in PAGES for s in snippets(page.read_text(encoding="utf-8"), str(page.relative_to(REPO)))
            if s.language in language]  # fmt: skip


# -- YAML: job files, job fragments and search-space files -------------------------------------


def _merged(base: dict[str, Any], fragment: dict[str, Any]) -> dict[str, Any]:
    """``fragment`` over ``base``, sections merged key by key; a ``dataset`` replaces the base's
    (a path and a catalog name exclude each other)."""
    merged = copy.deepcopy(base)
    for key, value in fragment.items():
        if key != "dataset" and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    if "objectives" in fragment.get("search", {}):  # one objective form at a time
        for single in ("metric", "mode"):
            merged["search"].pop(single, None)
    return merged


def _job_folder(root: Path) -> Path:
    """A folder beside which ``../search_spaces`` and the shown neighbours resolve."""
    folder = root / "jobs"
    folder.mkdir(parents=True, exist_ok=True)
    if not (root / "search_spaces").exists():
        (root / "search_spaces").symlink_to(REPO / "search_spaces")
    for name, target in NEIGHBOURS.items():
        if not (folder / name).exists():
            (folder / name).symlink_to(target)
    return folder


def check_yaml_snippet(text: str, root: Path) -> list[str]:
    """The loader's problems with a YAML snippet (empty when it loads). A search-space file is
    loaded as one; a job or job fragment is loaded merged onto the preset of its task, or of any
    task when it names none (a fragment of ``train`` keys of one task)."""
    from finesweep.config import load_job, load_space_file
    from finesweep.config.schema import JobConfig
    from finesweep.errors import ConfigError

    document = yaml.safe_load(text)
    if document is None:
        return []  # only comments, e.g. the editor's schema line
    if not isinstance(document, dict):
        return [f"not a mapping: {document!r}"]
    folder = _job_folder(root)
    if "parameters" in document and "dataset" not in document:
        path = folder / "space.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_space_file(path)
            return []
        except ConfigError as exc:
            return list(exc.problems)
    unknown = sorted(set(document) - {info.alias or name for name, info in JobConfig.model_fields.items()})
    if unknown:
        return [f"not job keys: {', '.join(unknown)}"]
    tasks = [document["task"]] if "task" in document else list(BASE_JOBS)
    problems: list[str] = []
    for task in tasks:
        base = yaml.safe_load(BASE_JOBS.get(task, BASE_JOBS["text_classification"]).read_text(encoding="utf-8"))
        path = folder / "job.yaml"
        path.write_text(yaml.safe_dump(_merged(base, document), allow_unicode=True), encoding="utf-8")
        try:
            load_job(path)
            return []
        except ConfigError as exc:
            problems += [f"as {task}: {problem}" for problem in exc.problems]
    return problems


YAML_SNIPPETS = all_snippets({"yaml", "yml"})


def test_the_pages_hold_yaml_snippets_of_each_kind():
    texts = [s.text for s in YAML_SNIPPETS]
    assert len(texts) >= 30
    assert any(t.lstrip().startswith("parameters:") for t in texts), "search-space files"
    assert any("name:" in t and "dataset:" in t for t in texts), "whole job files"


@pytest.mark.parametrize("snippet", YAML_SNIPPETS, ids=[s.where for s in YAML_SNIPPETS])
def test_every_yaml_snippet_loads_with_the_real_loader(snippet, tmp_path, monkeypatch):
    monkeypatch.setenv("FINESWEEP_DATA_DIR", "/work/shared/data")
    monkeypatch.delenv("FINESWEEP_STORAGE_PATH", raising=False)
    assert check_yaml_snippet(snippet.text, tmp_path) == [], snippet.where


@pytest.mark.parametrize(
    "stale, expected",
    [
        ("search:\n  algorithm: tpee\n", "search.algorithm"),
        ("scheduler:\n  grace_periods: 1\n", "grace_periods"),
        ("parameters:\n  learning_rate: {distribution: log_uniform, low: 1.0e-4, high: 1.0e-3}\n", "learning_rate"),
        ("train:\n  no_such_knob: 3\n", "no_such_knob"),
        ("runtime: replay\n", "not job keys: runtime"),
    ],
)
def test_a_stale_yaml_snippet_is_refused(stale, expected, tmp_path):
    problems = check_yaml_snippet(stale, tmp_path)
    assert problems and any(expected in problem for problem in problems), problems


# -- shell blocks: every finesweep command line ------------------------------------------------


def command_lines(text: str) -> list[str]:
    """The ``finesweep ...`` lines of a shell or console block: continuations joined, a console's
    ``$`` prompt, environment assignments and ``.venv/bin/`` dropped; its output lines skipped."""
    console = any(line.startswith("$ ") for line in text.splitlines())
    joined = re.sub(r"\\\n\s*", " ", text)
    lines = []
    for line in joined.splitlines():
        if console:
            if not line.startswith("$ "):
                continue
            line = line[2:]
        words = line.split()
        while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
            words.pop(0)
        if words and words[0] in ("finesweep", ".venv/bin/finesweep"):
            lines.append(" ".join(words[1:]))
    return lines


def _words(line: str) -> list[str]:
    """A command line's words, its usage marks (``[...]``, ``...``, ``<placeholder>``) dropped."""
    line = re.sub(r"<[^>]*>", "X", line)
    words = shlex.split(line, comments=True)
    return [w.strip("[]") for w in words if w.strip("[]") not in ("", "...", "|")]


def check_command_line(line: str) -> list[str]:
    """What the real CLI would not take in a documented command line: an unknown command or an
    option the command does not have."""
    import typer

    from finesweep.cli import app

    group = typer.main.get_command(app)
    words = _words(line)
    global_options = {opt for param in group.params for opt in param.opts} | {"--help"}
    while words and words[0] in global_options:
        words.pop(0)
    if not words:
        return []
    name, rest = words[0], words[1:]
    if name not in group.commands:
        return [f"no command {name!r}; commands: {', '.join(sorted(group.commands))}"]
    command = group.commands[name]
    known = {"--help"} | {opt for param in command.params for opt in [*param.opts, *param.secondary_opts]}
    return [f"finesweep {name}: no option {word.split('=')[0]!r}" for word in rest
            if word.startswith("-") and len(word) > 1 and word.split("=")[0] not in known]  # fmt: skip


SHELL_SNIPPETS = all_snippets({"bash", "sh", "console", "shell"})
COMMAND_LINES = [(s.where, line) for s in SHELL_SNIPPETS for line in command_lines(s.text)]


def test_the_pages_show_most_commands():
    from finesweep.cli import app

    import typer

    shown = {_words(line)[0] for _, line in COMMAND_LINES}
    missing = set(typer.main.get_command(app).commands) - shown
    assert len(COMMAND_LINES) >= 30
    assert missing <= {"schema", "train"} | missing & {"init"}, missing


@pytest.mark.parametrize("where, line", COMMAND_LINES, ids=[f"{w} {l[:40]}" for w, l in COMMAND_LINES])
def test_every_documented_command_line_parses_against_the_cli(where, line):
    assert check_command_line(line) == [], where


@pytest.mark.parametrize(
    "stale, expected",
    [
        ("sweep jobs/quickstart.yaml --resum", "--resum"),
        ("leaderboard --sweep NAME [--top-k K]", "--top-k"),
        ("promote --sweep NAME", "no command 'promote'"),
        ("predict --model URI [--format json]", "--format"),
    ],
)
def test_a_stale_command_line_is_refused(stale, expected):
    problems = check_command_line(stale)
    assert problems and expected in problems[0], problems


def test_command_lines_are_read_from_console_and_shell_blocks():
    block = "$ FOO=1 .venv/bin/finesweep plan a.yaml \\\n    --set x=1\nPlan for job 'a'\nfinesweep sweep b.yaml\n"
    assert command_lines(block) == ["plan a.yaml --set x=1"]
    assert command_lines("finesweep sweep b.yaml   # runs\nray status\n") == ["sweep b.yaml # runs"]


# -- outputs a page shows ----------------------------------------------------------------------


def _console_blocks(command: str) -> list[tuple[Snippet, str, list[str]]]:
    """(block, command line, output lines) of every console block whose command is ``command``."""
    found = []
    for snippet in SHELL_SNIPPETS:
        if snippet.language != "console":
            continue
        text = re.sub(r"\\\n\s*", " ", snippet.text)
        lines = text.splitlines()
        if lines and lines[0].startswith(f"$ finesweep {command}"):
            found.append((snippet, lines[0][len("$ finesweep "):], [line for line in lines[1:] if line.strip()]))
    return found


def _run_cli(args: list[str], cwd: Path, monkeypatch) -> tuple[int, list[str]]:
    """Exit code and output lines (stdout, then stderr) of the real CLI run in ``cwd``."""
    import subprocess
    import sys

    monkeypatch.delenv("FINESWEEP_STORAGE_PATH", raising=False)
    done = subprocess.run([sys.executable, "-m", "finesweep", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    return done.returncode, [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


def test_the_plan_output_on_the_cluster_page_is_what_plan_prints(monkeypatch):
    [(snippet, line, shown)] = _console_blocks("plan")
    code, printed = _run_cli(shlex.split(line), REPO, monkeypatch)
    assert code == 0
    assert printed == shown, snippet.where


BROKEN_JOB = "dataset: {name: emotion_carer}\nsearch:\n  algorithm: tpee\n  space: ../search_spaces/s.yaml\ntrain:\n  learning_rate: -0.001\n"
BROKEN_SPACE = "parameters:\n  learning_rate: {distribution: loguniform, low: 1.0e-3, high: 1.0e-5}\n"


def test_the_validate_output_on_the_job_files_page_is_what_validate_prints(tmp_path, monkeypatch):
    [(snippet, line, shown)] = _console_blocks("validate")
    (tmp_path / "jobs").mkdir()
    (tmp_path / "search_spaces").mkdir()
    (tmp_path / "jobs" / "broken.yaml").write_text(BROKEN_JOB, encoding="utf-8")
    (tmp_path / "search_spaces" / "s.yaml").write_text(BROKEN_SPACE, encoding="utf-8")
    code, printed = _run_cli(shlex.split(line), tmp_path, monkeypatch)
    assert code == 2
    assert [row.replace(str(tmp_path), "/abs") for row in printed] == shown, snippet.where


def test_the_sweeps_output_on_the_mlflow_page_has_the_commands_columns(tmp_path):
    from finesweep.tracking.leaderboard import sweeps_table

    [(snippet, _, shown)] = _console_blocks("sweeps")
    columns = list(sweeps_table(f"sqlite:///{tmp_path}/mlflow.db").columns)
    header, *rows = shown
    assert header.split() == " ".join(columns).split(), snippet.where
    ends = [header.index(column) + len(column) for column in columns]  # the table is right-aligned
    for row in rows:
        cells = [row[start:end].strip() for start, end in zip([0, *ends], ends)]
        assert all(cells) and len(row) == ends[-1], ("one value under each column", row)
    assert rows


def test_a_stale_output_is_told_apart():
    shown = ["sweep experiment task started (UTC) status completed pruned failed metric best"]
    columns = ["sweep", "experiment", "task", "started (UTC)", "status", "completed", "pruned", "failed", "objective", "best"]
    assert shown[0].split() != " ".join(columns).split()


# -- the troubleshooting page quotes messages the code writes ----------------------------------


def message_fragments(message: str) -> list[str]:
    """The literal parts of a quoted message: the text between its ``...`` placeholders, without
    the ``error:`` prefix the CLI adds, each long enough to be told apart."""
    message = re.sub(r"^error:\s*", "", message.strip())
    parts = [part.strip(" ;:") for part in message.split("...")]
    # the dotted key that starts a part is the loader's, added to what the model's check says
    parts = [re.sub(r"^[a-z_]+(\.[a-z_]+)+:\s*", "", part) for part in parts]
    return [part for part in parts if len(part) >= 8]


def unknown_messages(page: str, source: str) -> list[str]:
    """Quoted messages (first cell of each table row) with a literal part the code never writes."""
    missing = []
    for line in page.splitlines():
        match = re.match(r"^\| (``? ?)(.+?) ?\1 \|", line)
        if match and line.startswith("| `"):
            missing += [f"{match.group(2)!r}: {part!r}" for part in message_fragments(match.group(2)) if part not in source]
    return missing


def _package_source() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted((REPO / "platform" / "finesweep").rglob("*.py")))


def test_every_message_on_the_troubleshooting_page_is_written_by_the_code():
    page = (REPO / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    assert len(rows) >= 20
    assert unknown_messages(page, _package_source()) == []


def test_a_message_the_code_no_longer_writes_is_found():
    stale = "| `error: ...: search.algorithm: no such searcher ...; pick one of ...` | cause | fix |\n"
    found = unknown_messages(stale, _package_source())
    assert found and found[0].endswith(": 'no such searcher'"), found
