"""Read a job file and its search space, apply ``--set`` overrides, and validate everything at once.

Every problem becomes one line ``FILE: dotted.key: what is wrong (got VALUE)``. The job's
sections, its ``train`` section (checked by the task's parameter model), the search-space file
and ``search.overrides`` are checked independently, so one mistake never hides another; all
problems are raised together as a :class:`~finesweep.errors.ConfigError` before anything starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from finesweep.config.problems import describe_error, format_problems
from finesweep.config.schema import JobConfig
from finesweep.config.search import build_objective, check_searcher, objective_items
from finesweep.config.space import ParamSpec, SearchSpaceFile, candidate_values, upper_bound, value_count
from finesweep.errors import ConfigError
from finesweep.objective import Objective
from finesweep.files import regular_file_problem
from finesweep.redact import printable
from finesweep.settings import STORAGE_ENV, Settings, in_use, using

_SPEC_ADAPTER: TypeAdapter[Any] = TypeAdapter(ParamSpec)


MAX_FILE_BYTES = 1 << 20  # 1 MiB: the longest shipped job or space file is under 4 KiB
MAX_NODES = 100_000  # YAML nodes after alias expansion: a "billion laughs" file stops here


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e-4`` as a float (YAML 1.1 would make it a string), refuses
    duplicate keys (the last one would silently win) and caps alias expansion."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                first = seen[key]
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {first.line + 1}); each key may appear once",
                    key_node.start_mark,
                )
            if isinstance(key, (str, int, float, bool)):
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)$"),
    list("-+0123456789."),
)


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes in ``node`` once every alias is expanded, counted on the shared graph (no expansion)."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1  # a recursive alias counts once instead of looping
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(item, memo) for item in node.value)
    else:
        size = 1
    memo[id(node)] = size
    return size


def parse_yaml_text(text: str) -> Any:
    """Parse YAML with the project's loader: safe, ``1e-4`` a float, no duplicate keys, and at most
    ``MAX_NODES`` nodes after alias expansion (checked before anything is built)."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {})
        if size > MAX_NODES:
            raise yaml.YAMLError(f"too many nodes once aliases are expanded ({size:.3g}; at most {MAX_NODES})")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_limited_text(path: Path, name: str, what: str = "file") -> str:
    """The UTF-8 text of a regular file of at most ``MAX_FILE_BYTES``; FinesweepError-style one-line
    problems as ValueError otherwise. Named pipes, devices and directories are refused before they
    are opened, so ``validate`` never blocks on a FIFO or reads ``/dev/zero`` until memory runs out."""
    problem, info = regular_file_problem(path, what)
    if problem is not None or info is None:
        suffix = "; give a YAML file" if problem and problem.startswith("not a regular file") else ""
        raise ValueError(f"{name}: {problem}{suffix}")
    if info.st_size > MAX_FILE_BYTES:
        raise ValueError(f"{name}: {info.st_size} bytes; a {what} may be at most {MAX_FILE_BYTES} bytes")
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if raw[:2] == b"\x1f\x8b":
        raise ValueError(f"{name}: gzip-compressed; a {what} must be plain YAML text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ValueError(f"{name}: line {line}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


@dataclass(frozen=True)
class LoadedJob:
    """A validated job: the job model, the task's parameters, the merged search space."""

    path: Path
    job: JobConfig
    params: BaseModel
    space: dict[str, Any]
    space_path: Path | None
    raw: dict[str, Any]
    objective: Objective
    overrides: tuple[str, ...] = field(default=())
    storage_path_named: bool = False  # the file or a --set names storage_path ($FINESWEEP_STORAGE_PATH does not replace it)

    @property
    def name(self) -> str:
        """The job's name: its ``name`` key, else the file's stem."""
        return self.job.name or self.path.stem

    def resolve_path(self, value: str) -> Path:
        """A path from the job file, relative to the job file's folder unless absolute."""
        candidate = Path(value).expanduser()
        if candidate.is_absolute():
            return candidate
        try:
            return (self.path.parent / candidate).resolve()
        except (OSError, RuntimeError):  # a symlink loop: the reader names it when it opens the file
            return self.path.parent / candidate

    def objective_keys(self) -> list[tuple[str, str]]:
        """``(dotted key, metric)`` of every goal and constraint, for problems found later (in the data)."""
        goals = [(key, goal.metric) for (key, _, _), goal in zip(objective_items(self.job, ""), self.objective.goals)]
        return goals + [(f"search.constraints[{i}]", c.metric) for i, c in enumerate(self.objective.constraints)]

    def max_epochs(self) -> int:
        """The most epochs any trial can run: the space's upper bound or the fixed value."""
        bound = self.largest("epochs")
        return int(bound if bound is not None else getattr(self.params, "epochs"))

    def largest(self, key: str) -> Any:
        """The largest value a trial can get for hyperparameter ``key``: the search space's upper
        bound when the space searches it (None for an unbounded or non-numeric one), else the fixed
        ``train`` value (None when the task has no such parameter)."""
        spec = self.space.get(key)
        if spec is not None:
            return upper_bound(spec)
        return getattr(self.params, key, None)


def _validate(model: type[BaseModel], data: Any, source: str, prefix: str, problems: list[str]) -> Any:
    """``model`` validated from ``data``, or None with the problems appended."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems.extend(format_problems(source, prefix, exc, model))
        return None


# ---------------------------------------------------------------------------------------------
# reading files and overrides


def _read_yaml_mapping(path: Path, problems: list[str], source: str | None = None) -> dict[str, Any] | None:
    name = source or str(path)
    try:
        text = read_limited_text(path, name)
    except ValueError as exc:
        problems.append(str(exc))
        return None
    try:
        data = parse_yaml_text(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problems.append(f"{name}: invalid YAML{where}: {getattr(exc, 'problem', None) or exc}")
        return None
    except RecursionError:
        problems.append(f"{name}: invalid YAML: nested too deeply")
        return None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(f"{name}: (top level): must be a mapping of keys to values (got a {type(data).__name__})")
        return None
    return data


def apply_override(data: dict[str, Any], assignment: str) -> str | None:
    """Apply one ``dotted.key=value`` (value parsed as YAML) to ``data``; return a problem or None."""
    problem = _apply_override(data, assignment)
    return printable(problem) if problem else None


def _apply_override(data: dict[str, Any], assignment: str) -> str | None:
    key, sep, text = assignment.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        return f"--set {assignment}: expected dotted.key=value (e.g. search.num_samples=4)"
    if len(text) > MAX_FILE_BYTES:
        return f"--set {key}: value of {len(text)} characters; at most {MAX_FILE_BYTES}"
    try:
        value = parse_yaml_text(text) if text.strip() else None
    except yaml.YAMLError as exc:
        return f"--set {assignment}: value is not valid YAML ({getattr(exc, 'problem', None) or exc})"
    parts = key.split(".")
    node = data
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: depth + 1])
            return f"--set {assignment}: {where} is a {type(child).__name__}, not a section"
        node = child
    node[parts[-1]] = value
    return None


# ---------------------------------------------------------------------------------------------
# the search space


def parse_parameters(parameters: Any, source: str, prefix: str, problems: list[str]) -> dict[str, Any]:
    """Validate each parameter definition on its own; return the valid ones."""
    if not isinstance(parameters, dict):
        problems.append(f"{source}: {prefix}: must be a mapping of hyperparameter names to distributions")
        return {}
    specs = {}
    for name, definition in parameters.items():
        try:
            specs[name] = _SPEC_ADAPTER.validate_python(definition)
        except ValidationError as exc:
            problems.extend(format_problems(source, f"{prefix}.{name}", exc, None))
    return specs


def _read_space_file(path: Path, source: str, problems: list[str]) -> dict[str, Any]:
    raw = _read_yaml_mapping(path, problems)
    if raw is None:
        return {}
    top = {key: value for key, value in raw.items() if key != "parameters"}
    _validate(SearchSpaceFile, {**top, "parameters": {}}, source, "", problems)
    if not raw.get("parameters"):
        problems.append(f"{source}: parameters: must define at least one parameter (got {raw.get('parameters')!r})")
        return {}
    return parse_parameters(raw["parameters"], source, "parameters", problems)


def _check_space_values(
    space: dict[str, Any], params_model: type[BaseModel], source: str, prefix: str, problems: list[str]
) -> None:
    """Every parameter must be a hyperparameter of the task, and every value it can take valid."""
    allowed = sorted(params_model.model_fields)
    for name, spec in space.items():
        if name not in params_model.model_fields:
            problems.append(f"{source}: {prefix}.{name}: unknown hyperparameter; allowed: {', '.join(allowed)}")
            continue
        finite = value_count(spec) is not None and not hasattr(spec, "low")
        for index, value in enumerate(candidate_values(spec)):
            try:
                params_model.model_validate({name: value})
            except ValidationError as exc:
                where = f"values[{index}]" if finite else ("low" if index == 0 and value == spec.low else "high")
                for error in exc.errors():
                    problems.append(f"{source}: {prefix}.{name}.{where}: {describe_error(error, None)}")


def _load_space(raw: dict[str, Any], job_path: Path, source: str, params_model, problems: list[str]):
    """The merged search space (file, then ``search.overrides``) and the space file's path."""
    search = raw.get("search") if isinstance(raw.get("search"), dict) else {}
    space: dict[str, Any] = {}
    space_path: Path | None = None
    reference = search.get("space")
    if isinstance(reference, str):
        candidate = Path(reference).expanduser()
        try:
            space_path = candidate if candidate.is_absolute() else (job_path.parent / candidate).resolve()
        except (OSError, RuntimeError):  # a symlink loop: reading it below says so
            space_path = job_path.parent / candidate
        if not space_path.exists() and not space_path.is_symlink():
            problems.append(f"{source}: search.space: file not found: {space_path} (got {reference!r})")
        else:
            file_space = _read_space_file(space_path, str(space_path), problems)
            if params_model is not None:
                _check_space_values(file_space, params_model, str(space_path), "parameters", problems)
            space.update(file_space)
    overrides = search.get("overrides")
    if isinstance(overrides, dict):
        inline = parse_parameters(overrides, source, "search.overrides", problems)
        if params_model is not None:
            _check_space_values(inline, params_model, source, "search.overrides", problems)
        space.update(inline)
    return space, space_path


def _check_cross_section(loaded: LoadedJob, source: str, problems: list[str]) -> None:
    job = loaded.job
    check_searcher(loaded, source, problems)
    _check_replay(loaded, source, problems)
    if job.scheduler.type == "asha":
        max_epochs = loaded.max_epochs()
        max_t = job.scheduler.max_t
        if max_t is not None and max_epochs > max_t:
            problems.append(
                f"{source}: scheduler.max_t: must be >= the most epochs a trial can run ({max_epochs}), "
                f"or trials would be cut at max_t and counted as pruned (got {max_t})"
            )
        if max_t is None and job.scheduler.grace_period > max_epochs:
            problems.append(
                f"{source}: scheduler.grace_period: `grace_period <= max epochs` must hold, but got "
                f"(grace_period={job.scheduler.grace_period}, max epochs={max_epochs})"
            )


def _check_replay(loaded: LoadedJob, source: str, problems: list[str]) -> None:
    """``scaling.trial_runtime: replay`` and a ``replay`` table go together, and the table must hold
    every searched hyperparameter and the most epochs a trial can run."""
    from finesweep.replay.table import parse_table

    job = loaded.job
    replaying = job.scaling.trial_runtime == "replay"
    if replaying != (job.replay is not None):
        key, wanted = ("replay", "a replay section with its table") if replaying else ("scaling.trial_runtime", "replay")
        problems.append(f"{source}: {key}: a replay sweep needs both scaling.trial_runtime: replay and a replay "
                        f"table; give {wanted} (got only one of them)")  # fmt: skip
        return
    if job.replay is None:
        return
    path = loaded.resolve_path(job.replay.table)
    try:
        table = parse_table(read_limited_text(path, f"{source}: replay.table", "curve table"), str(path))
    except ValueError as exc:
        text = str(exc)
        problems.append(text if text.startswith(source) else f"{source}: replay.table: {path}: {text}")
        return
    fixed = loaded.params.model_dump()
    for problem in table.problems(list(loaded.space), fixed, loaded.max_epochs()):
        problems.append(f"{source}: replay.table: {path}: {problem}")


def _task_for(raw: dict[str, Any], source: str, problems: list[str]) -> Any:
    from finesweep.tasks import get_task, task_names

    name = raw.get("task", JobConfig.model_fields["task"].default)
    if isinstance(name, str) and name in task_names():
        return get_task(name)
    if isinstance(name, str):
        problems.append(f"{source}: task: unknown task (got {name!r}); allowed: {', '.join(task_names())}")
    return None


def _default_storage(raw: dict[str, Any], storage_path: str | None, problems: list[str]) -> None:
    """A job that names no ``storage_path`` stores its results at the settings' ``storage_path``.

    A cluster sets $FINESWEEP_STORAGE_PATH once for every job (cluster.yaml: the S3 bucket), as
    MLFLOW_TRACKING_URI sets ``tracking.uri``; a job file or ``--set storage_path=`` still wins. The
    value is checked like the key and written into the job, so the sweep's record says where its
    results went.
    """
    if "storage_path" in raw or not storage_path:
        return
    from finesweep.storage import uri_problem

    problem = uri_problem(storage_path)
    if problem:
        problems.append(f"${STORAGE_ENV}: {problem} (the storage_path of jobs that set none)")
    else:
        raw["storage_path"] = storage_path


def load_job(path: str | Path, overrides: list[str] | tuple[str, ...] = (), settings: Settings | None = None) -> LoadedJob:
    """Load and validate a job file (and its search space) with ``--set`` overrides applied, under
    ``settings`` (default: those in use, :func:`finesweep.settings.in_use`): their ``storage_path``
    for a job that names none, their cache folder for the base model's checks.

    Raises :class:`ConfigError` listing every problem found; imports nothing heavy.
    """
    settings = settings or in_use()
    with using(settings):
        return _load_job(path, overrides, settings)


def remote_code_refusal(source: str) -> str:
    """The problem line for a job asking to run its model's code without the command's consent."""
    return (f"{source}: model.trust_remote_code: true would run the base model folder's own Python code, and a "
            "job file alone cannot allow that; pass --trust-remote-code to the command if you trust that code")


def _load_job(path: str | Path, overrides: list[str] | tuple[str, ...], settings: Settings) -> LoadedJob:
    """:func:`load_job`'s steps."""
    source = str(path)
    try:
        job_path = Path(path).expanduser().resolve()
    except (OSError, RuntimeError):  # a symlink loop
        raise ConfigError([f"{source}: cannot read (a symlink loop)"]) from None
    problems: list[str] = []
    raw = _read_yaml_mapping(job_path, problems, source)
    if raw is None:
        raise ConfigError(problems)
    for assignment in overrides:
        problem = apply_override(raw, assignment)
        if problem:
            problems.append(f"{source}: {problem}")
    storage_path_named = "storage_path" in raw
    _default_storage(raw, settings.storage_path, problems)
    if problems:
        raise ConfigError(problems)
    job = _validate(JobConfig, raw, source, "", problems)
    if job is not None and job.model.trust_remote_code and not settings.trust_remote_code:
        problems.append(remote_code_refusal(source))
    task = _task_for(raw, source, problems)
    params = None
    if task is not None and isinstance(raw.get("train", {}), dict):
        params = _validate(task.params_model, raw.get("train", {}), source, "train", problems)
    space, space_path = _load_space(raw, job_path, source, task.params_model if task else None, problems)
    objective = None
    if job is not None and task is not None:
        objective = build_objective(job, task, source, problems)
    if problems or job is None or params is None or objective is None:
        raise ConfigError(problems or [f"{source}: invalid job file"])
    loaded = LoadedJob(job_path, job, params, space, space_path, raw, objective, tuple(overrides), storage_path_named)
    _check_cross_section(loaded, source, problems)
    problems.extend(task.check_job(loaded, source))
    if problems:
        raise ConfigError(problems)
    return loaded


def load_space_file(path: str | Path) -> dict[str, Any]:
    """Validate a standalone search-space file (``finesweep validate search_spaces/x.yaml``).

    Parameter names are checked against the hyperparameters of every registered task.
    """
    from finesweep.tasks import get_task, task_names

    space_path = Path(path)
    problems: list[str] = []
    space = _read_space_file(space_path, str(path), problems)
    if problems:
        raise ConfigError(problems)
    known = {name for task in task_names() for name in get_task(task).params_model.model_fields}
    for name in space:
        if name not in known:
            problems.append(f"{path}: parameters.{name}: unknown hyperparameter; allowed: {', '.join(sorted(known))}")
    if problems:
        raise ConfigError(problems)
    return space
