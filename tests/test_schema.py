"""The tag schema: every MLflow tag name finesweep writes or reads is spelled once, in
``finesweep.tracking.schema``, and documented there; no other module of the package types one.

The scan reads each module's string literals (docstrings left out: they are prose) and calls a
literal a tag name when it is one of the schema's ``finesweep.*``/``mlflow.*`` names, starts with one
of its tag prefixes, is a ``finesweep.<word>`` name that is no module of the package (a new tag),
names a tag in a search filter (``tags.`finesweep.status```), or is an f-string building a
``finesweep.`` name outside a module path (``f"finesweep.{key}"``). Module paths
(``finesweep.searchers.grid:Grid``, the entry-point group ``finesweep.tasks``) and logger names are
not tags.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from finesweep.tracking import schema

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "platform" / "finesweep"
SCHEMA_FILE = PACKAGE / "tracking" / "schema.py"

# every str constant of the schema: tag names and tag prefixes
CONSTANTS = {name: value for name, value in vars(schema).items() if name.isupper() and isinstance(value, str)}
NAMES = {value for value in CONSTANTS.values() if value.startswith(("finesweep.", "mlflow."))}
PREFIXES = tuple(value for value in NAMES if value.endswith((".", "_")))
_NEW_TAG = re.compile(r"^finesweep(\.[a-z_][a-z0-9_]*)+$")
_FILTER = re.compile(r"tags\.[`\"']?(finesweep|mlflow)\.")


def _is_module(dotted: str) -> bool:
    """Whether ``finesweep.a.b`` names a module or package of finesweep (the bare package excluded)."""
    parts = dotted.split(".")
    if len(parts) < 2 or parts[0] != "finesweep":
        return False
    path = PACKAGE.joinpath(*parts[1:])
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _docstrings(tree: ast.AST) -> set[int]:
    nodes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {id(node.body[0].value) for node in ast.walk(tree) if isinstance(node, nodes) and node.body
            and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}  # fmt: skip


def constant_is_tag(text: str) -> bool:
    """Whether a plain string literal spells a tag name (or a search filter on one)."""
    if text in NAMES or text.startswith(PREFIXES) or _FILTER.search(text):
        return True
    return bool(_NEW_TAG.match(text)) and not _is_module(text)


def fstring_is_tag(head: str, literal: str) -> bool:
    """Whether an f-string builds a tag name: its text before the first placeholder (``head``)
    starts with a schema name or a ``finesweep.`` name outside a module path; ``literal`` is all of
    its literal text, for a search filter typed into it."""
    if _FILTER.search(literal) or head in NAMES or head.startswith(PREFIXES):
        return True
    if not head.startswith("finesweep."):
        return False
    dotted = ".".join(head.split(".")[:-1])  # the complete names before the placeholder's
    return not _is_module(dotted)


def tag_literals(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string literal of ``source`` that spells a tag name."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [value.value if isinstance(value, ast.Constant) else None for value in node.values]
            skip.update(id(value) for value in node.values)
            head = "".join(part for part in parts[: parts.index(None)] if part) if None in parts else "".join(parts)
            if fstring_is_tag(head, "".join(part or "{}" for part in parts)):
                found.append((node.lineno, ast.unparse(node)))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            if constant_is_tag(node.value):
                found.append((node.lineno, repr(node.value)))
    return sorted(found)


def test_no_module_but_the_schema_spells_a_tag_name():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == SCHEMA_FILE:
            continue
        literals = tag_literals(path.read_text(encoding="utf-8"))
        found += [f"{path.relative_to(REPO)}:{line}: {text}" for line, text in literals]
    assert not found, "import these tag names from finesweep.tracking.schema:\n" + "\n".join(found)


@pytest.mark.parametrize("source", [
    'tags["finesweep.status"] = "x"',
    'tags.get("mlflow.parentRunId")',
    'x = {"finesweep.version.torch": v}',
    'x = "finesweep.some_new_tag"',
    'key = f"finesweep.{name}"',
    'key = f"finesweep.version.{name}"',
    'key = f"finesweep.extension_{n}"',
    "flt = f\"tags.`finesweep.sweep` = '{sweep}'\"",
    "flt = \"tags.`mlflow.parentRunId` = 'x'\"",
])  # fmt: skip
def test_the_scan_finds_a_tag_name_typed_out(source):
    assert tag_literals(source), source


@pytest.mark.parametrize("source", [
    'ENTRY_POINT_GROUP = "finesweep.tasks"',
    'BUILTIN = {"grid": "finesweep.searchers.grid:Grid"}',
    'served_by = "finesweep.serving.classifier:TextClassifier"',
    'target = f"finesweep.tasks.{name}:TASK"',
    'log = logging.getLogger("finesweep.tuning.sweep")',
    'uri = "sqlite:///mlflow.db"',
    'def f():\n    """Reads the ``finesweep.status`` tag (tags.`finesweep.role` = \'trial\')."""',
    'tags[TAG_STATUS] = "completed"',
])  # fmt: skip
def test_the_scan_leaves_module_paths_and_prose_alone(source):
    assert not tag_literals(source), source


def test_every_schema_name_is_documented_once():
    keys = [tag.key for tag in schema.TAGS]
    assert len(keys) == len(set(keys)), "a tag documented twice"
    assert set(keys) == set(CONSTANTS.values()), "every constant of the schema has one row of TAGS, and only those"
    assert sorted(CONSTANTS.values()) == sorted(set(CONSTANTS.values())), "two constants spell one tag"
    for tag in schema.TAGS:
        assert tag.runs and tag.values and tag.writer, tag
        assert tag.key.endswith((".", "_")) == bool(tag.suffix), f"{tag.key}: a prefix, and only one, shows its suffix"
        for module in tag.writer.split(","):
            assert _is_module(f"finesweep.{module.strip()}"), f"{tag.key}: written by {module.strip()!r}, no module"


def test_schema_is_a_leaf():
    tree = ast.parse(SCHEMA_FILE.read_text(encoding="utf-8"))
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert not [name for name in imported if name.split(".")[0] == "finesweep"], imported


def test_tag_names_are_the_ones_recorded_before_the_schema():
    """Runs recorded before stay readable: the names built from prefixes are unchanged."""
    from finesweep.tracking.metric_names import BOOKKEEPING, bookkeeping_from_tags, bookkeeping_tags

    assert BOOKKEEPING[:5] == ("final", "stopped_early", "ended_by_budget", "restarts", "process_trial_index")
    assert BOOKKEEPING[5:] == ("oom_batch_pieces",)  # added after them (issue 40)
    assert all(schema.BOOKKEEPING_TAGS[key] == f"finesweep.{key}" for key in BOOKKEEPING)
    tags = bookkeeping_tags({"final": True, "restarts": 2, "stopped_early": False})
    assert tags == {"finesweep.final": "1", "finesweep.stopped_early": "0", "finesweep.restarts": "2"}
    assert bookkeeping_from_tags(tags) == {"final": 1.0, "stopped_early": 0.0, "restarts": 2.0}
    assert schema.version_tag("torch") == "finesweep.version.torch"
    assert schema.extension_tag(2) == "finesweep.extension_2"
    assert (schema.TAG_SWEEP, schema.TAG_ROLE, schema.TAG_TRIAL, schema.TAG_PARENT) == (
        "finesweep.sweep", "finesweep.role", "finesweep.trial_id", "mlflow.parentRunId")  # fmt: skip
