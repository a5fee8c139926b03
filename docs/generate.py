"""The generated pages of the manual: built from the code and the results on every docs build
(``docs/gen_pages.py``, run by the mkdocs-gen-files plugin), so that they cannot drift from it.

- ``reference/job-file.md``: every job key, from the pydantic models (type, default, bounds,
  allowed values, description), with each task's ``train`` keys, each searcher's options and each
  search-space distribution's keys;
- ``reference/commands.md``: every command, argument and option (type, default or required,
  bounds, help) and each command's exit codes, from the CLI's argument parser and its code;
- ``reference/datasets.md``: the dataset catalog, with each dataset's splits as counted from its
  files (``docs/dataset_splits.json``; ``python docs/generate.py --count-splits DATA_DIR`` rewrites it);
- ``reference/presets.md``: the shipped job files in ``jobs/``, with the parameters each searches;
- ``reference/tags.md``: every MLflow tag a sweep writes or reads, from ``finesweep.tracking.schema``;
- ``benchmarks.md``: every figure in ``bench/results/*.json``, with its date and machine, and a
  result flagged stale when its script changed after it was measured (from git).

``tests/test_docs.py`` checks each page against the code it describes; ``tests/test_docs_snippets.py``
checks the hand-written pages' snippets (YAML through the loader, command lines through the CLI).
"""

from __future__ import annotations

import inspect
import json
import re
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


def _validated_type(model: type[BaseModel], name: str) -> str | None:
    """For a field typed ``Any``, what its validator returns (``list[str] | str``): the type it
    really takes, which the annotation leaves open so that the validator can name the problem."""
    for decorator in model.__pydantic_decorators__.field_validators.values():
        if name in decorator.info.fields:
            returned = inspect.signature(decorator.func).return_annotation
            if returned is not inspect.Signature.empty:
                return returned if isinstance(returned, str) else _type_text(returned)
    return None


def _list_item_model(annotation: Any) -> type[BaseModel] | None:
    """The section model of a ``list[Section]`` (or ``list[Section] | None``) field, else None."""
    for candidate in [annotation, *typing.get_args(annotation)]:
        if typing.get_origin(candidate) is list:
            item = _section_model(typing.get_args(candidate)[0]) if typing.get_args(candidate) else None
            if item is not None:
                return item
    return None


def _is_text(annotation: Any) -> bool:
    return annotation is str or str in typing.get_args(annotation)


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
            parts.append(f"length >= {item.min_length}" if _is_text(info.annotation) else f"at least {item.min_length} item(s)")
        if isinstance(item, annotated_types.MaxLen):
            parts.append(f"length <= {item.max_length}" if _is_text(info.annotation) else f"at most {item.max_length} item(s)")
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
        kind = _type_text(info.annotation)
        if info.annotation is Any:
            kind = _validated_type(model, name) or kind
        kind = _MAPPING_TYPES.get(key, kind)
        yield key, kind, _default_text(info), _bounds(info), " ".join((info.description or "").split())
        item = _list_item_model(info.annotation)
        nested = _section_model(info.annotation) if item is None else None
        if item is not None:  # each item of a list of sections, e.g. search.objectives[].metric
            yield from model_rows(item, f"{key}[].")
        if nested is not None:
            yield from model_rows(nested, f"{key}.")


# the free-form mappings, by what their values are checked against
_MAPPING_TYPES = {
    "parameters": "dict[str, distribution]",
    "search.overrides": "dict[str, distribution]",
    "search.options": "dict[str, searcher option]",
    "parameters.NAME.values": "list[hyperparameter value]",
}


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
    from finesweep.config.space import DISTRIBUTIONS, SearchSpaceFile
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
    parts += ["", "## Distributions", "",
              "Each entry of `parameters` (and of `search.overrides`) is a mapping with a `distribution` key; "
              "these are the keys of each distribution. Unknown keys are refused.", ""]  # fmt: skip
    for name, model in DISTRIBUTIONS.items():
        summary = " ".join((model.__doc__ or "").strip().split("\n\n")[0].split())
        parts += [f"### `distribution: {name}`", "", summary, ""]
        parts.append(_key_table(row for row in model_rows(model, "parameters.NAME.") if not row[0].endswith(".distribution")))
        parts.append("")
    return "\n".join(parts) + "\n"


# -- commands ---------------------------------------------------------------------------------


def _commands() -> Any:
    import typer

    from finesweep.cli import app

    return typer.main.get_command(app)


def command_names() -> list[str]:
    """Every command of the CLI, as typed."""
    return sorted(_commands().commands)


_EXITS = {0: "success", 1: "an internal failure, or failed trials", 2: "a problem you can fix (one line per problem on stderr)",
          3: "a refused promotion, or a reproduction outside its tolerance", 130: "interrupted (Ctrl-C)"}  # fmt: skip


def _errors() -> list[type]:
    """finesweep's error classes, each with the exit code the CLI turns it into."""
    from finesweep import errors

    return [v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, errors.FinesweepError)]


def command_exit_codes(command: Any) -> list[int]:
    """The exit codes a command can end with: 0, 2 and 1 for every command, 130 for those that run
    trials, and each code its own code raises (``typer.Exit(3)``, an error class such as
    ``PromotionRefused``) or its help names ("Exits 3")."""
    source = inspect.getsource(command.callback)
    codes = {0, 1, 2} | {int(code) for code in re.findall(r"typer\.Exit\((\d+)\)", source)}
    codes |= {int(code) for code in re.findall(r"\bExits (\d+)\b", command.help or "")}
    codes |= {error.exit_code for error in _errors() if re.search(rf"\b{error.__name__}\b", source)}
    if command.name in ("sweep", "train", "reproduce", "submit"):
        codes.add(130)
    return sorted(codes)


def _param_type(param: Any, context: Any) -> str:
    """A parameter's type as its help shows it (``int``, ``path``, ``list[str]``), flags as ``flag``."""
    if getattr(param, "is_flag", False):
        return "flag"
    return param.display_type(context).strip("<>").replace(" range", "")


def _param_bounds(param: Any) -> str:
    parts = []
    if getattr(param, "min", None) is not None:
        parts.append(f">= {param.min}")
    if getattr(param, "max", None) is not None:
        parts.append(f"<= {param.max}")
    return ", ".join(parts)


def _param_default(param: Any) -> str:
    if param.required:
        return "required"
    if param.default in (None, [], ()) or getattr(param, "is_flag", False) and param.default is False:
        return "repeatable" if param.multiple else ""
    return f"`{param.default}`"


def _param_row(param: Any, context: Any) -> tuple[str, ...]:
    if param.param_type_name == "argument":
        name = f"`{param.name.upper()}`" + (" ..." if param.nargs == -1 else "")
    else:
        name = " / ".join(f"`{flag}`" for flag in [*param.opts, *param.secondary_opts])
    return (name, _param_type(param, context), _param_default(param), _param_bounds(param), " ".join((param.help or "").split()))


def commands_page() -> str:
    """Every command: its help, each argument and option (type, default or required, bounds,
    meaning) and its exit codes, from the command line's own parser."""
    group = _commands()
    context = group.make_context("finesweep", [], resilient_parsing=True)
    parts = ["# Commands", "", "Generated from the command line's own parser. Every command takes `--help`; "
             "`finesweep --debug COMMAND ...` shows tracebacks.", "", "## Exit codes", "",
             _table([(f"`{code}`", text) for code, text in _EXITS.items()], ("Code", "Meaning")), ""]  # fmt: skip
    for name in sorted(group.commands):
        command = group.commands[name]
        parts += [f"## `finesweep {name}`", "", " ".join((command.help or "").split()), ""]
        rows = [_param_row(param, context) for param in command.params]
        if rows:
            parts += [_table(rows, ("Argument or option", "Type", "Default", "Bounds", "Meaning")), ""]
        codes = ", ".join(f"`{code}`" for code in command_exit_codes(command))
        parts += [f"Exit codes: {codes} ([what each means](#exit-codes)).", ""]
    return "\n".join(parts)


# -- datasets and presets ---------------------------------------------------------------------


SPLITS_FILE = REPO / "docs" / "dataset_splits.json"


def count_splits(data_dir: Path) -> dict[str, dict[str, int]]:
    """Rows of each split every catalog dataset ships, read from ``data_dir`` with the catalog's
    own loaders; for pairs, also the distinct passages, groups and passages without a query."""
    from finesweep.data.catalog import CATALOG

    counts: dict[str, dict[str, int]] = {}
    for name, entry in sorted(CATALOG.items()):
        frames = entry.load({remote.name: data_dir / entry.files_folder / remote.name for remote in entry.files})
        row = {split: len(frame) for split, frame in frames.items() if split != "corpus"}
        if entry.kind == "pairs":
            pairs = frames["all"]
            unpaired = frames["corpus"]["passage"].astype(str).tolist() if "corpus" in frames else []
            row["positives"] = int(pairs["passage"].nunique())  # distinct passages some query points to
            row["groups"] = int(pairs["group"].nunique()) if "group" in pairs else row["positives"]
            row["passages"] = len(dict.fromkeys([*pairs["passage"], *unpaired]))  # the evaluation corpus
        counts[name] = row
    return counts


def _splits_text(kind: str, row: dict[str, int] | None) -> str:
    """What a dataset ships and what finesweep carves from it, as a sentence."""
    if row is None:
        return "not counted (run `docs/generate.py --count-splits DATA_DIR`)"
    if kind == "pairs":
        extra = row["passages"] - row["positives"]
        corpus = f"all {row['passages']:,} passages" + (f" ({extra:,} of them without a query)" if extra else "")
        return (f"{row['all']:,} (query, passage) pairs over {row['positives']:,} distinct passages in {row['groups']:,} "
                "groups, no split shipped: split by group into train / validation / test (`validation_fraction`, "
                f"`test_fraction`); each evaluation query ranks {corpus}")  # fmt: skip
    if "all" in row:
        return (f"{row['all']:,} texts, no split shipped: test, then validation carved out, stratified "
                "(`test_fraction`, `validation_fraction`)")  # fmt: skip
    shipped = ", ".join(f"{split} {row[split]:,}" for split in ("train", "validation", "test") if split in row)
    carved = [split for split in ("validation", "test") if split not in row]
    return f"shipped: {shipped}" + (f"; {' and '.join(carved)} carved from train, stratified (`{carved[0]}_fraction`)" if carved else "")


def datasets_page() -> str:
    """The dataset catalog: what ``dataset.name`` accepts, and the splits of each."""
    from finesweep.data.catalog import CATALOG

    counts = json.loads(SPLITS_FILE.read_text(encoding="utf-8")) if SPLITS_FILE.is_file() else {}
    rows = [(f"`{name}`", entry.description, entry.language, entry.license, entry.kind + (", multi-label" if entry.multi_label else ""),
             str(len(entry.label_names)) if entry.kind == "labels" else "") for name, entry in sorted(CATALOG.items())]  # fmt: skip
    splits = [(f"`{name}`", _splits_text(entry.kind, counts.get(name))) for name, entry in sorted(CATALOG.items())]
    return "\n".join([
        "# Datasets", "",
        "Generated from the catalog: the names `dataset.name` accepts. Each is read from "
        "`$FINESWEEP_DATA_DIR` when set, else downloaded once from its public source and checked "
        "against its sha256.", "",
        _table(rows, ("Name", "Description", "Language", "License", "Kind", "Classes")), "",
        "## Splits", "",
        "What each dataset ships, counted from its files with the catalog's own loaders "
        "(`docs/dataset_splits.json`), and what finesweep carves out of it with `dataset.split_seed`. "
        "`max_train_samples` and `max_eval_samples` then keep a stratified sample of each split.", "",
        _table(splits, ("Name", "Splits")), "",
    ])  # fmt: skip


def preset_files() -> list[Path]:
    """The shipped job files."""
    return sorted((REPO / "jobs").glob("*.yaml"))


def preset_description(path: Path, job: dict[str, Any]) -> str:
    """A preset's ``description`` key, else the first sentence of the comment that opens its file."""
    if job.get("description"):
        return " ".join(str(job["description"]).split())
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    text = re.sub(r"^Preset:\s*", "", " ".join(lines))
    first = re.split(r"(?<=[.])\s+(?=[A-Z0-9])", text)[0] if text else ""
    return first[:1].upper() + first[1:]


def _spec_text(spec: Any) -> str:
    """A searched parameter's distribution as a user reads it: ``loguniform 0.0003 to 0.005``."""
    data = spec.model_dump()
    kind = data.pop("distribution")
    if "values" in data:
        return f"{kind}: {', '.join(str(v) for v in data['values'])}"
    extra = "".join(f", {key} {data[key]}" for key in ("step", "log") if key in data and data[key] not in (1, False))
    return f"{kind} {data['low']:g} to {data['high']:g}{extra}"


def presets_page() -> str:
    """The shipped job files: task, dataset, base model, searcher, trials and description of each,
    then the parameters each one searches (its space file with the job's overrides)."""
    from finesweep.config import load_job

    rows, sections = [], []
    for path in preset_files():
        job = yaml.safe_load(path.read_text(encoding="utf-8"))
        loaded = load_job(path)
        search = loaded.job.search
        rows.append((f"`jobs/{path.name}`", loaded.job.task, f"`{loaded.job.dataset.name or loaded.job.dataset.path}`",
                     f"`{loaded.job.model.base}`", search.algorithm, str(search.num_samples), preset_description(path, job)))  # fmt: skip
        space = f"`{loaded.space_path.relative_to(REPO)}`" if loaded.space_path else "the job's `search.overrides`"
        params = [(f"`{name}`", _spec_text(spec)) for name, spec in loaded.space.items()]
        sections += [f"## `jobs/{path.name}`", "", f"Searches, from {space}:", "", _table(params, ("Parameter", "Distribution")), ""]
    return "\n".join([
        "# Presets", "",
        "Generated from `jobs/`: each shipped job file, ready to run with `finesweep sweep jobs/NAME.yaml`.", "",
        _table(rows, ("File", "Task", "Dataset", "Base model", "Searcher", "Trials", "Description")), "",
        *sections,
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


def result_script(path: Path) -> Path | None:
    """The benchmark script that writes a result file: ``bench/NAME.py``, else the script whose name
    is the longest prefix of the file's (``presets_own`` is written by ``presets.py --own-budget``)."""
    scripts = sorted((REPO / "bench").glob("*.py"), key=lambda script: -len(script.stem))
    return next((script for script in scripts if path.stem == script.stem or path.stem.startswith(script.stem + "_")), None)


def _last_change(path: Path) -> str | None:
    """The date (YYYY-MM-DD) of the last commit that changed ``path``, or None outside a git checkout."""
    import subprocess

    try:
        done = subprocess.run(["git", "log", "-1", "--format=%cs", "--", str(path)], cwd=REPO, capture_output=True,
                              text=True, timeout=30, check=False)  # fmt: skip
    except OSError:
        return None
    return done.stdout.strip() or None


def result_status(path: Path, date: str) -> str:
    """``current``, or ``stale`` with why: the script that writes the file changed after the file's
    newest measurement, so its figures may not be what the script measures now."""
    script = result_script(path)
    changed = _last_change(script) if script else None
    newest = max(re.findall(r"20\d\d-\d\d-\d\d", date), default="")
    if script is None or changed is None or not newest:
        return "not checked (no script or no git history)"
    if changed > newest:
        return f"**stale**: `bench/{script.name}` changed on {changed}, after this run ({newest}); rerun it to refresh"
    return "current"


def benchmarks_page() -> str:
    """Every benchmark result file, with the date and machine it was measured on, and whether it
    is stale (its script changed since)."""
    parts = [
        "# Benchmarks", "",
        "Generated from `bench/results/*.json`: every figure the benchmark scripts in `bench/` "
        "measured, with its date and machine. Rerun a benchmark with `.venv/bin/python bench/NAME.py`; "
        "it rewrites its own file. Compare figures only within one file: each compares its "
        "alternatives side by side in one run. A file is flagged **stale** when the script that writes "
        "it changed after it was measured.", "",
    ]  # fmt: skip
    summary, sections = [], []
    for path in result_files():
        data = json.loads(path.read_text(encoding="utf-8"))
        date, machine = _measured(data)
        status = result_status(path, date)
        summary.append((f"[{path.stem}](#{path.stem})", date.split(" (")[0], status))
        sections += [f"## {path.stem}", "", f"`bench/results/{path.name}`, measured {date} on {machine}.", ""]
        if status != "current":
            sections += [f"Status: {status}.", ""]
        sections += _render(data, 3)
    parts += [_table(summary, ("Result", "Measured", "Status")), "", *sections]
    return "\n".join(parts)


PAGES = {
    "reference/job-file.md": job_file_page,
    "reference/commands.md": commands_page,
    "reference/datasets.md": datasets_page,
    "reference/presets.md": presets_page,
    "reference/tags.md": tags_page,
    "benchmarks.md": benchmarks_page,
}


def main(argv: list[str]) -> None:
    """``python docs/generate.py --count-splits DATA_DIR``: rewrite docs/dataset_splits.json."""
    if len(argv) != 2 or argv[0] != "--count-splits":
        raise SystemExit("usage: python docs/generate.py --count-splits DATA_DIR")
    SPLITS_FILE.write_text(json.dumps(count_splits(Path(argv[1])), indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
