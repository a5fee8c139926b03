"""``--resume --more K`` adds trials to the sweep it names, and never changes what that sweep is:
another task, objective, search space or data is refused in one line naming the change (issue 44,
defect 3).

The ended sweep is recorded by the sweep's own code up to its parent run (``prepare_sweep``,
``read_inputs``, ``open_parent`` on a real MLflow SQLite store, real data and the tiny BERT), then
marked ended as a finished sweep marks itself. No trial runs and Ray never starts: every refusal
here comes before it does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from finesweep.config import load_job
from finesweep.errors import SweepError
from job_parts import WITHOUT_BASELINES

SPACE = {"learning_rate": {"distribution": "loguniform", "low": 1e-4, "high": 5e-2},
         "lora_r": {"distribution": "choice", "values": [2, 16]}}  # fmt: skip


def _job(folder: Path, model: Path, store: str, file: str = "job.yaml", **sections) -> Path:
    job = {
        "name": "same",
        "dataset": {"name": "emotion_carer", "max_train_samples": 80, "max_eval_samples": 40},
        "model": {"base": str(model)},
        "train": {"max_length": 32, "batch_size": 16, "epochs": 1, "seed": 3},
        "search": {"algorithm": "tpe", "seed": 11, "num_samples": 2, "overrides": SPACE},
        "scheduler": {"type": "none"},
        "scaling": {"cpus_per_worker": 0.9, "trial_driver_cpus": 0.1},
        "tracking": {"uri": store, "experiment": "more"},
        "storage_path": str(folder / "results"),
        "baselines": dict(WITHOUT_BASELINES),
        "verbose": 0,
    }
    for key, value in sections.items():
        job[key] = {**job[key], **value} if isinstance(value, dict) else value
    path = folder / file
    path.write_text(yaml.safe_dump(job), encoding="utf-8")
    return path


def _ended_sweep(job: Path, name: str) -> None:
    """Record sweep ``name`` of ``job`` as a sweep records itself up to its trials, then ended."""
    from finesweep.tuning._inputs import read_inputs
    from finesweep.tuning._prepare import prepare_sweep
    from finesweep.tuning._record import open_parent
    from finesweep.tuning._state import SweepOptions, SweepState

    setup = prepare_sweep(load_job(job), name, SweepOptions())

    state = SweepState(setup, read_inputs(setup))
    open_parent(state)
    state.tracker.parent.set_tags({"finesweep.status": "finished"})
    state.tracker.client.set_terminated(state.tracker.parent.run_id, "FINISHED")


def _more(job: Path, name: str, *overrides: str) -> None:
    """What `finesweep sweep JOB --name NAME --resume --more 1` runs, up to where Ray would start."""
    from finesweep.tuning._inputs import read_inputs
    from finesweep.tuning._prepare import prepare_sweep
    from finesweep.tuning._state import SweepOptions, SweepState

    setup = prepare_sweep(load_job(job, list(overrides)), name, SweepOptions(resume=True, more=1))

    state = SweepState(setup, read_inputs(setup))


@pytest.fixture
def ended(tmp_path, mlflow_store, tiny_bert) -> Path:
    job = _job(tmp_path, tiny_bert, mlflow_store)
    _ended_sweep(job, "s")
    return job


def test_more_with_the_sweeps_own_job_passes_every_check(ended):
    _more(ended, "s")  # no refusal: the same task, objective, space and data


@pytest.mark.parametrize("overrides, fragment", [
    (("search.metric=val_loss", "search.mode=min"), "objective val_loss (min) (the sweep's is val_macro_f1 (max))"),
    (("search.overrides.lora_r.values=[2, 8]",), "search space: lora_r changed"),
    (("search.overrides.epochs={distribution: int, low: 1, high: 2}",), "search space: epochs added"),
    (("search.constraints=['model_size_mb <= 1']",), "objective val_macro_f1 (max); subject to model_size_mb <= 1"),
], ids=["metric", "space-changed", "space-added", "constraint"])  # fmt: skip
def test_more_refuses_another_objective_or_space_before_the_data_is_read(ended, overrides, fragment):
    with pytest.raises(SweepError) as refused:
        _more(ended, "s", *overrides)
    message = str(refused.value)
    assert message.startswith("--more: this job would change sweep 's': ") and fragment in message, message
    assert "\n" not in message


def test_more_refuses_other_data(ended):
    with pytest.raises(SweepError, match=r"would change sweep 's': other data \(dataset fingerprint \w+, the sweep's is \w+\)"):
        _more(ended, "s", "dataset.max_train_samples=60")


def test_more_with_another_job_file_is_refused_through_the_cli_in_one_line(ended, tmp_path, tiny_bert, mlflow_store):
    other = _job(tmp_path, tiny_bert, mlflow_store, "other.yaml", task="contrastive_embedding",
                 dataset={"name": "korquad_v1"}, search={"metric": "val_mrr_at_10"},
                 train={"max_query_length": 16})  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    done = subprocess.run([sys.executable, "-m", "finesweep", "sweep", str(other), "--name", "s", "--resume", "--more", "1"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 2, done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert "task contrastive_embedding (the sweep's is text_classification)" in line, line
    assert "objective val_mrr_at_10 (max)" in line, line
