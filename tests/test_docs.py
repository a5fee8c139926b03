"""The manual against the code: every generated page covers what it describes (job keys, commands,
datasets, presets, MLflow tags, benchmark results), every job field has its help text, the printed
JSON Schema accepts every shipped file, and the README stays short with the three commands CI runs."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def _generate():
    spec = importlib.util.spec_from_file_location("finesweep_docs_generate", REPO / "docs" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = _generate()


def _all_models():
    from finesweep.config.schema import JobConfig
    from finesweep.config.space import SearchSpaceFile
    from finesweep.searchers import get_searcher, searcher_names
    from finesweep.tasks import get_task, task_names

    yield "", JobConfig
    yield "", SearchSpaceFile
    for name in task_names():
        yield "train.", get_task(name).params_model
    for name in searcher_names():
        yield "search.options.", get_searcher(name).options_model


def test_every_job_key_has_help_text_and_a_row_in_the_reference():
    page = generate.job_file_page()
    missing_help, missing_rows = [], []
    for prefix, model in _all_models():
        for key, kind, default, bounds, text in generate.model_rows(model, prefix):
            if not text:
                missing_help.append(f"{model.__name__}: {key}")
            escaped = kind.replace("|", "\\|")
            if f"| `{key}` | `{escaped}` | {default} |" not in page and key != "train":
                missing_rows.append(key)
    assert missing_help == [], "fields without a description"
    assert missing_rows == []


def test_reference_shows_bounds_and_allowed_values_from_the_models():
    page = generate.job_file_page()
    assert "| `dataset.validation_fraction` | `float` | `0.1` | > 0, < 0.5 |" in page
    assert "`'csv' \\| 'tsv' \\| 'jsonl' \\| 'parquet' \\| None`" in page
    for searcher in ("tpe", "motpe", "random", "gp", "cmaes", "qmc", "nsga2", "grid"):
        assert f"## `search.options` for `search.algorithm: {searcher}`" in page


def test_commands_page_lists_every_command_and_option():
    page = generate.commands_page()
    group = generate._commands()
    assert set(generate.command_names()) >= {"sweep", "validate", "schema", "promote-best-model", "train"}
    for name, command in group.commands.items():
        assert f"## `finesweep {name}`" in page
        for param in command.params:
            for flag in param.opts if param.param_type_name == "option" else []:
                assert f"`{flag}`" in page.split(f"## `finesweep {name}`")[1].split("\n## ")[0], (name, flag)


def test_catalog_presets_and_benchmark_pages_cover_every_entry_with_dates():
    from finesweep.data.catalog import CATALOG

    datasets = generate.datasets_page()
    assert all(f"| `{name}` |" in datasets for name in CATALOG)
    presets = generate.presets_page()
    assert all(f"`jobs/{path.name}`" in presets for path in generate.preset_files())
    benchmarks = generate.benchmarks_page()
    for path in generate.result_files():
        section = benchmarks.split(f"## {path.stem}\n")[1]
        assert re.match(r"\n`bench/results/[\w.]+`, measured 20\d\d-\d\d-\d\d( to 20\d\d-\d\d-\d\d \(each section's own date below\))? on \d+ CPUs", section), section[:200]


def test_tag_page_lists_every_tag_of_the_schema():
    from finesweep.tracking.schema import TAGS

    page = generate.tags_page()
    for tag in TAGS:
        assert f"| `{tag.key}{tag.suffix}` |" in page, tag.key
    assert "](../mlflow-ui.md)" in page


def _shipped(folder: str) -> list[Path]:
    return sorted((REPO / folder).glob("*.yaml"))


@pytest.mark.parametrize("kind, folder", [("job", "jobs"), ("space", "search_spaces")])
def test_printed_schema_accepts_every_shipped_file_and_rejects_unknown_keys(kind, folder):
    import jsonschema

    done = subprocess.run([sys.executable, "-m", "finesweep", "schema", kind], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    schema = json.loads(done.stdout)
    validator = jsonschema.Draft202012Validator(schema)
    for path in _shipped(folder):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        errors = [e.message for e in validator.iter_errors(document)]
        assert errors == [], (path.name, errors)
        document["no_such_key"] = 1
        assert list(validator.iter_errors(document)), "an unknown key is flagged while you type"


def test_schema_flags_a_wrong_train_key_for_the_task_and_a_bad_searcher():
    import jsonschema

    from finesweep.config.json_schema import job_schema

    validator = jsonschema.Draft202012Validator(job_schema())
    job = {"dataset": {"name": "emotion_carer"}, "task": "contrastive_embedding", "train": {"balancing": "class_weight"}}
    assert list(validator.iter_errors(job)), "balancing is a text_classification key"
    job = {"dataset": {"name": "emotion_carer"}, "search": {"algorithm": "tpee"}}
    assert list(validator.iter_errors(job))


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```(?:bash|sh)\n(.*?)```", text, flags=re.S)


def test_readme_is_short_and_ci_runs_its_test_command():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    blocks = "\n".join(_readme_commands())
    assert "./setup.sh" in blocks
    assert "finesweep sweep jobs/quickstart.yaml" in blocks
    [test_command] = [line.strip() for line in blocks.splitlines() if line.strip().startswith(".venv/bin/pytest")]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines(), "CI runs exactly the README's test command"
    assert "mkdocs build --strict" in ci
    assert "NN minutes" not in readme


def test_manual_pages_in_the_nav_exist_and_hold_no_lab_notes():
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))

    def pages(items):
        for item in items:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            yield from pages(value) if isinstance(value, list) else [value]

    for page in pages(config["nav"]):
        if page in generate.PAGES:
            continue
        text = (REPO / "docs" / page).read_text(encoding="utf-8")
        for note in ("a test checks", "I measured", "we measured", "lab note"):
            assert note not in text, (page, note)
