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
        # a seed script's internal version labels (V24, V28a) mean nothing to a reader
        assert not re.search(r"\(seed \d+, V\d+", text), page


def test_dataset_splits_are_counted_from_the_data(data_dir):
    from finesweep.data.catalog import CATALOG

    recorded = json.loads(generate.SPLITS_FILE.read_text(encoding="utf-8"))
    assert recorded == generate.count_splits(data_dir), "rerun docs/generate.py --count-splits DATA_DIR"
    page = generate.datasets_page()
    assert set(recorded) == set(CATALOG)
    assert "| `korean_hate_speech` | shipped: train 7,896, test 471; validation carved from train" in page
    assert "ranks all 960 passages" in page and "all 5,183 passages (4,516 of them without a query)" in page


def test_presets_page_shows_each_presets_description_and_searched_parameters():
    from finesweep.config import load_job

    page = generate.presets_page()
    for path in generate.preset_files():
        row = next(line for line in page.splitlines() if line.startswith(f"| `jobs/{path.name}` |"))
        assert row.rstrip(" |").split(" | ")[-1].strip(), f"{path.name}: empty description"
        section = page.split(f"## `jobs/{path.name}`\n")[1].split("\n## ")[0]
        for name in load_job(path).space:
            assert f"| `{name}` |" in section, (path.name, name)
    assert "| `learning_rate` | loguniform 0.0003 to 0.005 |" in page


def test_commands_page_shows_argument_help_defaults_required_marks_bounds_and_exit_codes():
    import inspect

    page = generate.commands_page()
    group = generate._commands()
    for name, command in group.commands.items():
        section = page.split(f"## `finesweep {name}`")[1].split("\n## ")[0]
        for param in command.params:
            if param.param_type_name == "argument":
                assert f"| `{param.name.upper()}`" in section and (param.help or "") in section, (name, param.name)
        # every exit code the command's own code raises is listed under it (reproduce: 3)
        for code in re.findall(r"typer\.Exit\((\d+)\)", inspect.getsource(command.callback)):
            assert f"`{code}`" in section.split("Exit codes:")[1], (name, code)
    sweep = page.split("## `finesweep sweep`")[1].split("\n## ")[0]
    assert "| `--more` | int | `0` | >= 0, <= 100000 |" in sweep
    assert "| `JOB_FILE` | path | required |" in sweep
    reproduce = page.split("## `finesweep reproduce`")[1].split("\n## ")[0]
    assert "| `--run` | str | required |" in reproduce and "`3`" in reproduce.split("Exit codes:")[1]
    promote = page.split("## `finesweep promote-best-model`")[1].split("\n## ")[0]
    assert "`3`" in promote.split("Exit codes:")[1], "PromotionRefused exits 3"


def test_job_file_page_shows_real_types_objective_items_and_distribution_keys():
    from finesweep.config.space import DISTRIBUTIONS

    page = generate.job_file_page()
    assert "`Any`" not in page and "Any]" not in page
    assert "| `search.objectives[].metric` | `str` | required |" in page
    assert "| `model.lora_target_modules` | `list[str] \\| str` |" in page
    for name, model in DISTRIBUTIONS.items():
        section = page.split(f"### `distribution: {name}`")[1].split("\n### ")[0]
        for field in model.model_fields:
            assert field == "distribution" or f"| `parameters.NAME.{field}` |" in section, (name, field)


def test_readme_retrieval_figures_are_in_the_results_file_with_its_date():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("Retrieval presets, each query")[1].split("\n## ")[0]
    results = json.loads((REPO / "bench" / "results" / "presets_own.json").read_text(encoding="utf-8"))
    rows = [row for row in results["rows"] if row["task"] != "text_classification"]
    recorded = {f"{value:.3f}" for row in rows for value in row.values() if isinstance(value, float)}
    table = [line for line in section.splitlines() if line.startswith("| `")]
    shown = {figure for line in table for figure in re.findall(r"\b0\.\d{3}\b", line)}
    assert len(table) == len(rows) and shown, section
    assert shown <= recorded, f"figures in no result file: {sorted(shown - recorded)}"
    assert {row["measured"] for row in rows} == {"2026-12-04"} and "measured 2026-12-04" in section


def test_benchmarks_page_flags_a_result_older_than_its_script():
    presets = REPO / "bench" / "results" / "presets.json"
    assert generate.result_script(presets).name == "presets.py"
    if generate._last_change(REPO / "bench" / "presets.py") is None:
        pytest.skip("no git history: staleness is read from it")
    assert generate.result_script(REPO / "bench" / "results" / "presets_own.json").name == "presets.py"
    assert generate.result_status(presets, "2000-01-01").startswith("**stale**: `bench/presets.py` changed on 20")
    assert generate.result_status(presets, "2000-01-01 to 2099-12-31 (each section's own date below)") == "current"
    page = generate.benchmarks_page()
    for path in generate.result_files():
        assert f"| [{path.stem}](#{path.stem}) |" in page


def test_the_new_pages_are_in_the_nav_and_the_api_page_documents_real_objects():
    import importlib

    nav = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    for page in ("concepts.md", "troubleshooting.md", "api.md", "changelog.md"):
        assert f": {page}\n" in nav, page
    config = yaml.safe_load(nav.replace("!!python", "#"))
    assert any("mkdocstrings" in plugin for plugin in config["plugins"] if isinstance(plugin, dict))
    objects = re.findall(r"^::: ([\w.]+)$", (REPO / "docs" / "api.md").read_text(encoding="utf-8"), flags=re.M)
    assert {"finesweep.load_model", "finesweep.serving.encoder.TextEncoder", "finesweep.serving.encoder.Hit",
            "finesweep.tasks.base.Task", "finesweep.searchers.base.Searcher"} <= set(objects)  # fmt: skip
    for dotted in objects:
        module, _, name = dotted.rpartition(".")
        assert getattr(importlib.import_module(module), name).__doc__, dotted
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert 'license = "Apache-2.0"' in pyproject
    assert "Apache License\n                           Version 2.0, January 2004" in (REPO / "LICENSE").read_text(encoding="utf-8")
    assert re.search(r'docs = \[[^\]]*"mkdocstrings\[python\]==[\d.]+"', pyproject)


def test_the_changelog_has_a_section_for_every_day_of_commits():
    done = subprocess.run(["git", "log", "--format=%cs"], cwd=REPO, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        pytest.skip("no git history")
    changelog = (REPO / "docs" / "changelog.md").read_text(encoding="utf-8")
    days = sorted(set(done.stdout.split()))
    missing = [day for day in days[:-1] if f"## {day}\n" not in changelog]  # today's round may still be open
    assert missing == []
