"""Read a job file and its search space, apply ``--set`` overrides, and validate everything at once.

Every problem becomes one line ``FILE: dotted.key: what is wrong (got VALUE)``; all of them are
collected and raised together as a :class:`~finesweep.errors.ConfigError` before anything starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from finesweep.config.schema import JobConfig
from finesweep.config.space import ParamSpec, SearchSpaceFile, candidate_values, finite_values, upper_bound
from finesweep.errors import ConfigError

_SPEC_ADAPTER: TypeAdapter[Any] = TypeAdapter(ParamSpec)


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-4`` as a float (YAML 1.1 would make it a string)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)$"),
    list("-+0123456789."),
)


def parse_yaml_text(text: str) -> Any:
    """Parse YAML with the project's loader (safe, and ``1e-4`` is a float)."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader


@dataclass(frozen=True)
class LoadedJob:
    """A validated job: the job model, the task's parameters, the merged search space."""

    path: Path
    job: JobConfig
    params: BaseModel
    space: dict[str, Any]
    space_path: Path | None
    raw: dict[str, Any]
    overrides: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        """The job's name: its ``name`` key, else the file's stem."""
        return self.job.name or self.path.stem

    def resolve_path(self, value: str) -> Path:
        """A path from the job file, relative to the job file's folder unless absolute."""
        candidate = Path(value).expanduser()
        return candidate if candidate.is_absolute() else (self.path.parent / candidate).resolve()

    def max_epochs(self) -> int:
        """The most epochs any trial can run: the space's upper bound or the fixed value."""
        spec = self.space.get("epochs")
        bound = upper_bound(spec) if spec is not None else None
        return int(bound if bound is not None else getattr(self.params, "epochs"))


# ---------------------------------------------------------------------------------------------
# formatting pydantic errors


_UNION_TAGS = {"loguniform", "uniform", "int", "choice", "grid"}


def _dotted(prefix: str, loc: tuple[Any, ...]) -> str:
    parts = [prefix] if prefix else []
    for index, item in enumerate(loc):
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        elif item in _UNION_TAGS and index >= 2 and loc[index - 2] in ("parameters", "overrides"):
            continue  # the branch name pydantic inserts for the `distribution` discriminated union
        else:
            parts.append(str(item))
    return ".".join(parts) if parts else "(top level)"


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """Field names allowed where an unknown key ``loc[-1]`` was found, walking nested models."""
    current: Any = model
    for item in loc[:-1]:
        fields = getattr(current, "model_fields", None)
        if fields is None or item not in fields:
            return None
        annotation = fields[item].annotation
        current = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        if current is None:
            return None
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else None


def _describe(error: dict[str, Any], model: type[BaseModel] | None) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, error["loc"]) if model is not None else None
        return "unknown key" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    if kind == "missing":
        return "missing required key"
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    message = message.replace("Input should be", "must be")
    return f"{message} (got {error['input']!r})"


def format_validation_error(
    source: str, prefix: str, exc: ValidationError, model: type[BaseModel] | None = None
) -> list[str]:
    """One line per pydantic error: ``source: dotted.key: message (got value)``."""
    lines = []
    for error in exc.errors():
        lines.append(f"{source}: {_dotted(prefix, tuple(error['loc']))}: {_describe(error, model)}")
    return lines


# ---------------------------------------------------------------------------------------------
# reading files and overrides


def _read_yaml_mapping(path: Path, problems: list[str]) -> dict[str, Any] | None:
    if not path.is_file():
        problems.append(f"{path}: file not found")
        return None
    try:
        data = parse_yaml_text(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        problems.append(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})")
        return None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problems.append(f"{path}: invalid YAML{where}: {getattr(exc, 'problem', exc)}")
        return None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(f"{path}: (top level): must be a mapping of keys to values (got {type(data).__name__})")
        return None
    return data


def apply_override(data: dict[str, Any], assignment: str) -> str | None:
    """Apply one ``dotted.key=value`` (value parsed as YAML) to ``data``; return a problem or None."""
    key, sep, text = assignment.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        return f"--set {assignment}: expected dotted.key=value (e.g. search.num_samples=4)"
    try:
        value = parse_yaml_text(text) if text.strip() else None
    except yaml.YAMLError as exc:
        return f"--set {assignment}: value is not valid YAML ({getattr(exc, 'problem', exc)})"
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


def _load_space(loaded_job: JobConfig, job_path: Path, problems: list[str]) -> tuple[dict[str, Any], Path | None]:
    space: dict[str, Any] = {}
    space_path: Path | None = None
    if loaded_job.search.space is not None:
        candidate = Path(loaded_job.search.space).expanduser()
        space_path = candidate if candidate.is_absolute() else (job_path.parent / candidate).resolve()
        raw = _read_yaml_mapping(space_path, problems)
        if raw is not None:
            try:
                space.update(SearchSpaceFile.model_validate(raw).parameters)
            except ValidationError as exc:
                problems.extend(format_validation_error(str(space_path), "", exc, SearchSpaceFile))
    space.update(loaded_job.search.overrides)
    return space, space_path


def _check_space_values(
    space: dict[str, Any], params_model: type[BaseModel], source: str, problems: list[str]
) -> None:
    """Every parameter must be a hyperparameter of the task, and every value it can take valid."""
    allowed = sorted(params_model.model_fields)
    for name, spec in space.items():
        if name not in params_model.model_fields:
            problems.append(f"{source}: parameters.{name}: unknown hyperparameter; allowed: {', '.join(allowed)}")
            continue
        for index, value in enumerate(candidate_values(spec)):
            try:
                params_model.model_validate({name: value})
            except ValidationError as exc:
                for error in exc.errors():
                    where = "values" if finite_values(spec) is not None and not hasattr(spec, "low") else (
                        "low" if index == 0 else "high"
                    )
                    suffix = f"[{index}]" if where == "values" else ""
                    problems.append(f"{source}: parameters.{name}.{where}{suffix}: {_describe(error, None)}")


def _check_cross_section(loaded: LoadedJob, source: str, task: Any, problems: list[str]) -> None:
    job = loaded.job
    metric_problem = task.check_metric(job.search.metric, job.search.mode)
    if metric_problem:
        problems.append(f"{source}: search.metric: {metric_problem}")
    if job.search.algorithm == "grid":
        continuous = [name for name, spec in loaded.space.items() if finite_values(spec) is None]
        if continuous:
            problems.append(
                f"{source}: search.algorithm: grid needs finite values (choice, grid or int), "
                f"but {', '.join(continuous)} {'is' if len(continuous) == 1 else 'are'} continuous"
            )
        elif not loaded.space:
            problems.append(f"{source}: search.space: grid search needs at least one parameter (got an empty space)")
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


def load_job(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> LoadedJob:
    """Load and validate a job file (and its search space) with ``--set`` overrides applied.

    Raises :class:`ConfigError` listing every problem found; imports nothing heavy.
    """
    from finesweep.tasks import get_task, task_names

    job_path = Path(path).expanduser().resolve()
    source = str(path)
    problems: list[str] = []
    raw = _read_yaml_mapping(job_path, problems)
    if raw is None:
        raise ConfigError([p.replace(str(job_path), source) for p in problems])
    for assignment in overrides:
        problem = apply_override(raw, assignment)
        if problem:
            problems.append(f"{source}: {problem}")
    if problems:
        raise ConfigError(problems)
    try:
        job = JobConfig.model_validate(raw)
    except ValidationError as exc:
        problems.extend(format_validation_error(source, "", exc, JobConfig))
        job = None
    if job is None:
        raise ConfigError(problems)
    if job.task not in task_names():
        raise ConfigError([f"{source}: task: unknown task (got {job.task!r}); allowed: {', '.join(task_names())}"])
    task = get_task(job.task)
    params = None
    try:
        params = task.params_model.model_validate(job.train)
    except ValidationError as exc:
        problems.extend(format_validation_error(source, "train", exc, task.params_model))
    space, space_path = _load_space(job, job_path, problems)
    space_source = str(space_path) if space_path else f"{source} (search.overrides)"
    _check_space_values(space, task.params_model, space_source, problems)
    if params is None:
        raise ConfigError(problems)
    loaded = LoadedJob(
        path=job_path, job=job, params=params, space=space, space_path=space_path, raw=raw, overrides=tuple(overrides)
    )
    if not problems:
        _check_cross_section(loaded, source, task, problems)
        problems.extend(task.check_job(loaded, source))
    if problems:
        raise ConfigError(problems)
    return loaded


def load_space_file(path: str | Path) -> dict[str, Any]:
    """Validate a standalone search-space file (used by ``finesweep validate`` on search_spaces/)."""
    space_path = Path(path)
    problems: list[str] = []
    raw = _read_yaml_mapping(space_path, problems)
    if raw is None:
        raise ConfigError(problems)
    try:
        parsed = SearchSpaceFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), "", exc, SearchSpaceFile)) from None
    return dict(parsed.parameters)
