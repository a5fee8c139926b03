"""Warm trials: a reused trial process gives the same results as a fresh one, and a sweep whose
closing steps fail still closes its parent run without hiding Tune's own error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from finesweep.config import load_job
from job_parts import WITHOUT_BASELINES

METRICS = ("val_loss", "val_accuracy", "val_macro_f1", "test_accuracy", "train_loss")


def _job(tmp_path: Path, tiny_bert: Path, ranks: list[int], name: str) -> Path:
    job = {
        "name": name,
        "dataset": {"name": "emotion_carer", "max_train_samples": 150, "max_eval_samples": 60},
        "model": {"base": str(tiny_bert)},
        "train": {"max_length": 32, "batch_size": 16, "epochs": 2, "seed": 5, "learning_rate": 3e-3},
        "search": {"metric": "val_loss", "mode": "min", "algorithm": "grid",
                   "overrides": {"lora_r": {"distribution": "grid", "values": ranks}}},
        "scheduler": {"type": "none"},
        # one trial at a time: the second grid point runs in the process the first one used
        "scaling": {"cpus_per_worker": 0.9, "max_concurrent_trials": 1, "trial_runtime": "in_trial"},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "experiment": "warm"},
        "storage_path": str(tmp_path / "results"),
        "baselines": dict(WITHOUT_BASELINES),
        "verbose": 0,
    }  # fmt: skip
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def _children(tracking_uri: str, sweep: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("warm")
    return client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`finesweep.sweep` = '{sweep}' and tags.`finesweep.role` = 'trial'",
    )


@pytest.mark.slow
def test_a_reused_process_gives_the_same_metrics_as_a_fresh_one(tmp_path, mlflow_store, tiny_bert, ray_clean):
    from finesweep.tuning.sweep import run_sweep

    warm = run_sweep(load_job(_job(tmp_path, tiny_bert, [4, 8], "warm")), name="warm")
    runs = _children(warm.tracking_uri, "warm")
    # the grid's order is seeded, not fixed: the reused process ran whichever point came second
    [reused] = [r for r in runs if int(r.data.tags["finesweep.process_trial_index"]) >= 2]
    [first] = [r for r in runs if r is not reused]
    assert len(runs) == 2, "the second trial ran in the first trial's process"
    # the first trial's model, optimizer and batches were freed before the second one built its own:
    # the process's resident memory (MiB) does not grow by another trial's worth
    assert reused.data.metrics["system/resident_memory_mb"] <= first.data.metrics["system/resident_memory_mb"] + 64
    fresh = run_sweep(load_job(_job(tmp_path, tiny_bert, [int(reused.data.params["lora_r"])], "fresh")), name="fresh")
    assert set(warm.statuses.values()) == set(fresh.statuses.values()) == {"completed"}
    [cold] = _children(fresh.tracking_uri, "fresh")
    assert cold.data.tags["finesweep.process_trial_index"] == "1"
    for key in METRICS:
        # the same configuration from fresh weights and the same seed: identical on CPU
        assert reused.data.metrics[key] == pytest.approx(cold.data.metrics[key], abs=1e-6), key
    assert reused.data.metrics["system/startup_data_s"] <= cold.data.metrics["system/startup_data_s"] + 0.5


def test_a_failing_close_neither_hides_the_error_nor_leaves_the_parent_running(tmp_path, tiny_bert, ray_clean):
    """``_finish`` runs in the sweep's ``finally``. Its one read of the sweep fails here (it asks
    the store for a sweep name the store does not hold): after a Tune failure that second error is
    only reported, after a success it is raised; either way the parent run ends FAILED instead of
    staying RUNNING."""
    from finesweep.tasks import get_task
    from finesweep.tracking.outbox import Outbox
    from finesweep.tracking.runs import SweepTracker
    from finesweep.tuning._finish import Closing, finish, ray_snapshot
    from finesweep.settings import Settings
    from finesweep.tuning._inputs import data_and_model
    from finesweep.tuning._state import Console, SweepInputs, SweepOptions, SweepSetup, SweepState
    from finesweep.tuning.execution.planning import plan_concurrency
    from finesweep.tuning.search.warm_start import WarmStart

    loaded = load_job(_job(tmp_path, tiny_bert, [4], "close"))
    task = get_task(loaded.job.task)
    data, base = data_and_model(loaded, task, Settings())
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    plan = plan_concurrency([{"CPU": 2.0}], loaded.job.scaling, 1)
    for failed in (True, False):
        tracker = SweepTracker(store, "warm", f"close-{failed}")
        tracker.parent.start({"finesweep.metric": "val_loss", "finesweep.mode": "min"}, {})
        outbox = Outbox(f"test {failed}", say=lambda _: None)
        setup = SweepSetup(loaded, task, f"absent-{failed}", SweepOptions(), store, tracker, tmp_path, Console(0),
                           Settings(), started=0.0, commit=None, extension=0)  # fmt: skip
        state = SweepState(setup, SweepInputs(data, base, {}, WarmStart()))
        before = ray_snapshot()  # what the session's other tests left on its Ray is not this sweep's to wait for
        if failed:
            finish(state, Closing(plan, outbox, failed=True, before=before))
        else:
            from finesweep.errors import TrackingError

            with pytest.raises(TrackingError, match="no sweep named"):
                finish(state, Closing(plan, outbox, failed=False, before=before))
        parent = tracker.client.get_run(tracker.parent.run_id)
        assert parent.info.status == "FAILED", "the parent run is closed, not left RUNNING"
        assert parent.data.tags["finesweep.status"] == "failed"
