"""JSON Schemas of job files and search-space files, for editors (completion and checking as you
type) and for ``finesweep schema``.

They come from the same pydantic models ``validate`` uses. A job's ``train`` section and its
``search.options`` depend on other keys (the task, the searcher); the schema expresses that with
JSON Schema's ``if``/``then``, one branch per registered task and searcher. ``validate`` still
checks what a schema cannot say (cross-field rules, the data, the model).
"""

from __future__ import annotations

import json
from typing import Any

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def job_schema() -> dict[str, Any]:
    """The JSON Schema of a job file."""
    from finesweep.config.schema import JobConfig
    from finesweep.data.catalog import CATALOG
    from finesweep.searchers import get_searcher, searcher_names
    from finesweep.tasks import get_task, task_names

    schema = JobConfig.model_json_schema(mode="validation")
    definitions = schema.setdefault("$defs", {})
    definitions["SearchConfig"]["properties"]["algorithm"]["enum"] = searcher_names()
    dataset = definitions["DatasetConfig"]["properties"]["name"]
    dataset["anyOf"] = [{"enum": sorted(CATALOG)}, {"type": "null"}]
    schema["properties"]["task"]["enum"] = task_names()
    branches = []
    for name in task_names():
        params = get_task(name).params_model.model_json_schema(mode="validation", ref_template=f"#/$defs/{name}__{{model}}")
        for key, value in params.pop("$defs", {}).items():
            definitions[f"{name}__{key}"] = value
        definitions[f"train__{name}"] = params
        # a job that names no task is a text_classification job (the default)
        condition = {"properties": {"task": {"const": name}}, "required": ["task"]}
        if name == "text_classification":
            condition = {"anyOf": [condition, {"not": {"required": ["task"]}}]}
        branches.append({"if": condition, "then": {"properties": {"train": {"$ref": f"#/$defs/train__{name}"}}}})
    for name in searcher_names():
        options = get_searcher(name).options_model.model_json_schema(mode="validation")
        definitions[f"options__{name}"] = options
        branches.append({
            "if": {"properties": {"search": {"properties": {"algorithm": {"const": name}}, "required": ["algorithm"]}},
                   "required": ["search"]},
            "then": {"properties": {"search": {"properties": {"options": {"$ref": f"#/$defs/options__{name}"}}}}},
        })  # fmt: skip
    schema["allOf"] = branches
    return {"$schema": DRAFT, "$id": "https://finesweep.dev/schemas/job.json", **schema, "title": "finesweep job file"}


def space_schema() -> dict[str, Any]:
    """The JSON Schema of a search-space file (``parameters``: a name -> distribution mapping)."""
    from pydantic import TypeAdapter

    from finesweep.config.space import ParamSpec, SearchSpaceFile

    schema = SearchSpaceFile.model_json_schema(mode="validation")
    spec = TypeAdapter(ParamSpec).json_schema(mode="validation", ref_template="#/$defs/{model}")
    schema.setdefault("$defs", {}).update(spec.pop("$defs", {}))
    schema["$defs"]["ParamSpec"] = spec
    schema["properties"]["parameters"] = {
        "type": "object", "minProperties": 1, "additionalProperties": {"$ref": "#/$defs/ParamSpec"},
        "description": "Each searched hyperparameter (a key of the task's train section) and its distribution.",
    }  # fmt: skip
    return {"$schema": DRAFT, "$id": "https://finesweep.dev/schemas/search-space.json",
            **schema, "title": "finesweep search-space file"}  # fmt: skip


def schema_text(kind: str) -> str:
    """The schema of ``kind`` (``job`` or ``space``) as indented JSON."""
    return json.dumps(job_schema() if kind == "job" else space_schema(), indent=2, sort_keys=False)
