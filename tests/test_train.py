"""One trial in one process (``finesweep train``) against a one-trial sweep of the same
configuration; GPUs declared to Ray packed four trials to one, and a declared GPU without CUDA
refused in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from finesweep.config import load_job
from job_parts import WITHOUT_BASELINES

pytestmark = pytest.mark.slow


def _job(folder: Path, model: Path, name: str, **sections) -> Path:
    job = {
        "name": name,
        "dataset": {"name": "emotion_carer", "max_train_samples": 80, "max_eval_samples": 40},
        "model": {"base": str(model)},
        "train": {"max_length": 32, "batch_size": 16, "epochs": 2, "seed": 3, "learning_rate": 3e-3, "lora_r": 4},
        "search": {"num_samples": 1},
        "scheduler": {"type": "none"},
        "scaling": {"cpus_per_worker": 1.0, "trial_driver_cpus": 0.1},
        "tracking": {"uri": f"sqlite:///{folder / 'mlflow.db'}", "experiment": "train"},
        "storage_path": str(folder / "results"),
        "baselines": dict(WITHOUT_BASELINES),
        "verbose": 0,
    }
    for key, value in sections.items():
        job[key] = {**job[key], **value} if isinstance(value, dict) and isinstance(job.get(key), dict) else value
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def test_train_in_process_equals_a_one_trial_sweep(tmp_path, mlflow_store, tiny_bert, ray_clean):
    from mlflow.tracking import MlflowClient

    from finesweep.tuning.sweep import run_sweep
    from finesweep.tuning.commands.train import train_one

    path = _job(tmp_path, tiny_bert, "same")
    summary = run_sweep(load_job(path), name="same-sweep")
    client = MlflowClient(summary.tracking_uri)
    [trial] = [r for r in client.search_runs([summary.experiment_id]) if r.data.tags.get("finesweep.role") == "trial"]
    result = train_one(load_job(path), tmp_path / "model")
    assert len(result.epochs) == 2 and (tmp_path / "model" / "finesweep_model.json").is_file()
    figures = [k for k in trial.data.metrics if k.startswith(("val_", "test_", "train_loss")) and "time" not in k]
    assert len(figures) > 10
    for key in figures:
        assert result.final[key] == trial.data.metrics[key], key  # the same loop, spec and seed: equal
    tracked = client.get_run(result.run_id)
    assert tracked.data.tags["finesweep.role"] == "train" and tracked.data.metrics["val_macro_f1"] == result.final["val_macro_f1"]
    assert [m.step for m in client.get_metric_history(result.run_id, "val_loss")] == [1, 2]


def test_train_runs_a_retrieval_job_without_tracking(tmp_path, tiny_bert, capsys):
    from finesweep.tuning.commands.train import train_one

    path = _job(tmp_path, tiny_bert, "pairs", task="contrastive_embedding", search={"metric": "val_mrr_at_10"},
                dataset={"name": "korquad_v1", "max_train_samples": 60, "max_eval_samples": 20},
                train={"max_query_length": 16, "lora_r": 4})  # fmt: skip
    result = train_one(load_job(path), tmp_path / "encoder", tracking=False)
    assert result.run_id is None and not (tmp_path / "mlflow.db").exists(), "nothing recorded"
    assert "test_mrr_at_10" in result.final and (tmp_path / "encoder" / "finesweep_model.json").is_file()
    assert "epoch 2/2: val_mrr_at_10" in capsys.readouterr().out


def test_a_declared_gpu_without_cuda_fails_in_one_line(tmp_path, tiny_bert):
    from finesweep.tuning.commands.train import train_one

    path = _job(tmp_path, tiny_bert, "gpu", scaling={"gpus_per_worker": 0.25})
    with pytest.raises(RuntimeError) as caught:
        train_one(load_job(path), tmp_path / "model", tracking=False)
    assert "CUDA is not available in this trial's process" in str(caught.value) and "\n" not in str(caught.value)


def test_four_trials_share_one_declared_gpu_and_release_it(tmp_path, mlflow_store, tiny_bert, ray_clean):
    """The session's Ray declares one GPU (conftest). The planner packs four 0.25-GPU trials at once;
    each sees its GPU (and, with no CUDA here, fails in one line instead of training on the CPU);
    everything is released at the end (ray_clean checks resources and placement groups)."""
    from finesweep.tuning.sweep import run_sweep

    space = {"lora_r": {"distribution": "choice", "values": [2, 4, 8, 16]}}
    path = _job(tmp_path, tiny_bert, "packed", search={"num_samples": 4, "overrides": space},
                scaling={"gpus_per_worker": 0.25, "cpus_per_worker": 0.4}, failure={"max_retries": 0})  # fmt: skip
    summary = run_sweep(load_job(path), name="packed")
    assert summary.max_concurrent == 4, summary.max_concurrent
    assert len(summary.errors) == 4, summary.errors
    for error in summary.errors.values():
        assert "CUDA is not available" in error and "GPU ids Ray gave it: 0" in error, error
    assert summary.resources_released, summary.leaked


def _cli_train(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m finesweep train ARGS`` in ``folder``, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    return subprocess.run([sys.executable, "-m", "finesweep", "train", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip


def test_train_replaces_its_own_model_folder_only_with_overwrite(tmp_path, tiny_bert):
    """A model folder `train` wrote is refused without --overwrite, refused with it once the user
    put a file of their own in it, and replaced with it otherwise (issue 44, defect 1)."""
    _job(tmp_path, tiny_bert, "own", train={"epochs": 1})
    first = _cli_train(tmp_path, "own.yaml", "--no-tracking", "--output", "model")
    assert first.returncode == 0, first.stderr
    card = tmp_path / "model" / "finesweep_model.json"
    assert card.is_file() and (tmp_path / "model" / ".finesweep-train.json").is_file()
    again = _cli_train(tmp_path, "own.yaml", "--no-tracking", "--output", "model")
    assert again.returncode == 2 and again.stderr.strip().splitlines() == [
        "error: --output model: is a model folder finesweep train wrote; add --overwrite to replace it"]
    (tmp_path / "model" / "notes.md").write_text("mine\n", encoding="utf-8")
    refused = _cli_train(tmp_path, "own.yaml", "--no-tracking", "--output", "model", "--overwrite")
    assert refused.returncode == 2 and "holds notes.md, which finesweep train did not write" in refused.stderr
    assert (tmp_path / "model" / "notes.md").read_text(encoding="utf-8") == "mine\n"
    (tmp_path / "model" / "notes.md").unlink()
    card.write_text(card.read_text(encoding="utf-8") + " ", encoding="utf-8")  # marks the old folder's card
    replaced = _cli_train(tmp_path, "own.yaml", "--no-tracking", "--output", "model", "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert not card.read_text(encoding="utf-8").endswith(" "), "the model folder is the new one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "own.yaml"], "no staging folder left behind"
