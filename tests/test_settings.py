"""Settings, once: read from the environment at the entry point only, passed down from there."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import pytest

from finesweep.settings import FORWARDED_ENV, Settings, in_use, using

PACKAGE = Path(__file__).resolve().parents[1] / "platform" / "finesweep"
# the entry layer (the CLI, and the module MLflow's serving process runs) and the redaction, which
# scans every variable's value for secrets
MAY_READ_THE_ENVIRONMENT = {"redact.py", "serving/mlflow_encoder.py"}
ENTRY_PACKAGE = "cli/"  # the command line, every module of it


def environment_reads(source: str) -> list[int]:
    """Lines of ``source`` that touch the process environment: ``os.environ``, ``os.getenv``,
    ``os.putenv``, ``os.unsetenv`` or their names imported from ``os``."""
    names = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os" and node.attr in names:
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and any(a.name in names for a in node.names):
            lines.append(node.lineno)
    return lines


def test_the_scan_finds_every_way_of_reading_the_environment():
    source = "import os\nfrom os import getenv\na = os.environ.get('X')\nb = os.getenv('Y')\nos.environ.setdefault('Z', '1')\n"
    assert sorted(environment_reads(source)) == [2, 3, 4, 5]
    assert environment_reads("import os\ntext = 'os.environ'\npath = os.path.join('a')\n") == []


def test_no_library_module_reads_the_environment():
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative in MAY_READ_THE_ENVIRONMENT or relative.startswith(ENTRY_PACKAGE):
            continue
        lines = environment_reads(path.read_text(encoding="utf-8"))
        if lines:
            found[relative] = lines
    assert not found, f"library code reads the environment (take it from Settings instead): {found}"


def test_from_environment_reads_each_variable(tmp_path):
    environ = {
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000",
        "FINESWEEP_STORAGE_PATH": " s3://bucket/sweeps ",
        "FINESWEEP_DATA_DIR": str(tmp_path / "data" / ".." / "data"),
        "FINESWEEP_CACHE_DIR": str(tmp_path / "cache"),
        "RAY_ADDRESS": "ray://head:10001",
        "HF_HUB_OFFLINE": "True",
        "TUNE_DISABLE_SIGINT_HANDLER": "1",
        "TUNE_FUNCTION_THREAD_TIMEOUT_S": "45",
        "RAY_JOB_ID": "02000000",
        "RAY_AUTH_MODE": "token",
        "RAY_API_SERVER_ADDRESS": "http://head:8265",
        "HF_HOME": "/models/hf",
        "UNRELATED": "x",
    }
    settings = Settings.from_environment(environ)
    assert settings.tracking_uri == "http://127.0.0.1:5000"
    assert settings.storage_path == "s3://bucket/sweeps"
    assert settings.data_dir == (tmp_path / "data").resolve()
    assert settings.cache_dir == tmp_path / "cache" and settings.cache_root() == tmp_path / "cache"
    assert settings.ray_address == "ray://head:10001"
    assert settings.hub_offline and not settings.tune_sigint_handler
    assert settings.trial_thread_timeout_s == "45"
    assert settings.in_ray_job and settings.ray_auth_mode == "token" and settings.jobs_server == "http://head:8265"
    assert dict(settings.forwarded_env) == {name: environ[name] for name in FORWARDED_ENV}
    assert "UNRELATED" not in dict(settings.forwarded_env)


def test_an_empty_environment_gives_the_defaults():
    assert Settings.from_environment({}) == Settings()
    blank = {"MLFLOW_TRACKING_URI": "", "FINESWEEP_DATA_DIR": " ", "RAY_ADDRESS": "", "HF_HUB_OFFLINE": "0",
             "TUNE_DISABLE_SIGINT_HANDLER": "0", "RAY_JOB_ID": ""}  # fmt: skip
    settings = Settings.from_environment(blank)
    assert settings.tracking_uri is None and settings.data_dir is None and settings.ray_address is None
    assert not settings.hub_offline and settings.tune_sigint_handler and not settings.in_ray_job
    assert settings.cache_root() == Path.home() / ".cache" / "finesweep"


def test_settings_are_frozen_and_travel_to_ray_workers(tmp_path):
    settings = Settings(data_dir=tmp_path, tracking_uri="sqlite:///x.db")
    with pytest.raises(AttributeError):
        settings.data_dir = None  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(settings)) == settings


def test_in_use_is_scoped_to_its_block(tmp_path):
    outer, inner = Settings(data_dir=tmp_path / "a"), Settings(data_dir=tmp_path / "b")
    with using(outer):
        with using(inner):
            assert in_use() is inner
        assert in_use() is outer
    from finesweep.data.catalog import data_dir

    with using(Settings()):
        assert data_dir() is None
    with using(inner):
        assert data_dir() == tmp_path / "b"


def test_the_tracking_uri_is_worked_out_in_one_place(tmp_path, monkeypatch):
    from finesweep.tracking.store import resolve_tracking_uri

    server = Settings(tracking_uri="http://127.0.0.1:5000")
    assert resolve_tracking_uri("sqlite:////tmp/job.db", server) == "sqlite:////tmp/job.db"
    assert resolve_tracking_uri(None, server) == "http://127.0.0.1:5000"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://ignored:5000")  # the library never looks
    assert resolve_tracking_uri(None, Settings()) == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert resolve_tracking_uri(None, Settings(), folder=Path(".")) == "sqlite:///mlflow.db"


def test_a_submitted_job_gets_what_the_settings_forward():
    from finesweep.cluster.submit import job_environment, job_location_problems

    settings = Settings.from_environment({"MLFLOW_TRACKING_URI": "http://head:5000", "FINESWEEP_DATA_DIR": "/data",
                                          "RAY_ADDRESS": "auto"})  # fmt: skip
    env = job_environment(settings, {"EXTRA": "1"})
    assert env["MLFLOW_TRACKING_URI"] == "http://head:5000" and env["FINESWEEP_DATA_DIR"] == "/data"
    assert env["EXTRA"] == "1" and env["TUNE_FUNCTION_THREAD_TIMEOUT_S"] == "30" and "RAY_ADDRESS" not in env
    assert env["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert job_location_problems(None, None, env) == [
        "storage_path: './finesweep_results' resolves inside this Ray job's temporary working directory "
        "(/ray-job-working-dir); set storage_path to an absolute path every node mounts, or s3://..., or "
        "FINESWEEP_STORAGE_PATH"
    ]
    (tracking,) = [p for p in job_location_problems(None, "/mnt/shared", {}) if p.startswith("tracking:")]
    assert "sqlite:///mlflow.db sits inside this Ray job's temporary working directory" in tracking
