"""Replay sweeps (``scaling.trial_runtime: replay``): the curve table, its nearest-configuration
lookup, the job checks, and a sweep of 50 replayed trials, 16 at once, through the real stack
(Ray Tune, TPE, ASHA, the MLflow callback and store), checked against the table it replays."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from finesweep.config import load_job
from finesweep.errors import ConfigError
from finesweep.replay.table import parse_table, read_table

ROOT = Path(__file__).resolve().parents[1]
CURVES = ROOT / "bench" / "curves"
HEADER = "config,learning_rate,balancing,epoch,epoch_s,train_loss,val_macro_f1,test_macro_f1\n"


def _table(rows: list[str]) -> str:
    return HEADER + "".join(row + "\n" for row in rows)


TWO = _table([
    "0,0.001,none,1,2.0,1.5,0.30,", "0,0.001,none,2,2.0,1.2,0.40,0.38",
    "1,0.01,oversample,1,3.0,1.4,0.35,", "1,0.01,oversample,2,3.0,1.1,0.50,0.47",
])  # fmt: skip


def test_a_table_reads_its_curves_parameters_and_metrics():
    table = parse_table(TWO)
    assert table.param_names == ("learning_rate", "balancing")
    assert table.metric_names == ("train_loss", "val_macro_f1", "test_macro_f1")
    assert table.max_epochs == 2 and [c.seconds for c in table.curves] == [(2.0, 2.0), (3.0, 3.0)]
    assert table.curves[1].epochs[1] == {"train_loss": 1.1, "val_macro_f1": 0.5, "test_macro_f1": 0.47}
    assert "test_macro_f1" not in table.curves[0].epochs[0], "an empty cell is no figure"
    assert table.best("val_macro_f1", "max") == 0.5 and table.best("train_loss", "min") == 1.1


def test_the_nearest_curve_is_the_recorded_one_and_a_choice_weighs_a_whole_range():
    table = parse_table(TWO)
    assert table.nearest({"learning_rate": 0.001, "balancing": "none"}) == (table.curves[0], 0.0)
    # 0.009 is near 0.01 on the log range, but its balancing differs: the choice outweighs it
    curve, distance = table.nearest({"learning_rate": 0.009, "balancing": "none"})
    assert curve.config == 0 and distance == pytest.approx(0.954, abs=1e-3)
    curve, _ = table.nearest({"learning_rate": 0.009, "balancing": "oversample"})
    assert curve.config == 1


@pytest.mark.parametrize("text, problem", [
    ("config,epoch\n0,1\n", "has no column epoch_s"),
    (_table(["0,0.001,none,1,2.0,1.5,0.3,", "0,0.001,none,3,2.0,1.2,0.4,"]), "epochs must run 1, 2, ... without gaps"),
    (_table(["x,0.001,none,1,2.0,1.5,0.3,"]), "line 2: config must be a whole number"),
    (_table(["0,0.001,none,1,2.0,1.5,high,"]), "configuration 0, epoch 1: a metric is not a number"),
    (HEADER, "holds no rows"),
])  # fmt: skip
def test_a_malformed_table_is_refused_naming_the_problem(text, problem):
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        parse_table(text)


def _replay_job(tmp_path: Path, table: str, **changes) -> Path:
    (tmp_path / "curves.csv").write_text(table)
    job = {
        "name": "replay", "dataset": {"name": "emotion_carer"}, "train": {"epochs": 2},
        "search": {"algorithm": "random", "num_samples": 4,
                   "overrides": {"learning_rate": {"distribution": "loguniform", "low": 1e-3, "high": 1e-2}}},
        "scheduler": {"type": "none"}, "scaling": {"trial_runtime": "replay", "cpus_per_worker": 0.05},
        "replay": {"table": "curves.csv"},
    }  # fmt: skip
    for key, value in changes.items():
        section, _, name = key.partition("__")
        job[section] = {**job[section], name: value} if name else value
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def test_a_replay_job_validates_and_its_checks_name_the_key(tmp_path):
    assert load_job(_replay_job(tmp_path, TWO)).job.replay.table == "curves.csv"
    cases = {
        "search.overrides": ({"search__overrides": {"lora_r": {"distribution": "choice", "values": [4, 8]}}},
                             "replay.table: .*searches 'lora_r', which the table did not record"),
        "train.epochs": ({"train__epochs": 3}, "trials may run 3 epochs, the table holds 2"),
        "no table": ({"replay": None}, "scaling.trial_runtime: replay and a replay table"),
    }  # fmt: skip
    for name, (changes, problem) in cases.items():
        with pytest.raises(ConfigError, match=problem):
            load_job(_replay_job(tmp_path, TWO, **changes))
    (tmp_path / "broken.csv").write_text("config,epoch\n")
    with pytest.raises(ConfigError, match="replay.table: .*broken.csv: has no column epoch_s"):
        load_job(_replay_job(tmp_path, TWO, replay={"table": "broken.csv"}))


def test_the_shipped_table_covers_the_shipped_replay_job():
    table = read_table(CURVES / "carer_minilm.csv")
    loaded = load_job(CURVES / "replay_carer.yaml")
    assert len(table.param_names) >= 5 and table.max_epochs == 4
    assert set(loaded.space) <= set(table.param_names)
    assert all(curve.epochs[-1].get("test_macro_f1") is not None for curve in table.curves)


@pytest.mark.slow
def test_a_replay_sweep_of_50_trials_16_at_once_records_what_the_table_holds(tmp_path, mlflow_store, data_dir,
                                                                              ray_clean):  # fmt: skip
    """Through the real stack: TPE proposes, ASHA stops, every trial reports its nearest curve,
    the MLflow record holds every trial in a final state with the table's figures."""
    from finesweep.tracking.snapshot import read_sweep
    from finesweep.tracking.store import client
    from finesweep.tuning.sweep import run_sweep

    loaded = load_job(CURVES / "replay_carer.yaml", [
        "search.num_samples=50", "scaling.max_concurrent_trials=16", "replay.time_scale=0.001",
        f"tracking.uri={mlflow_store}", f"storage_path={tmp_path / 'results'}", "verbose=0",
    ])  # fmt: skip
    summary = run_sweep(loaded, name="replay-50")
    table = read_table(CURVES / "carer_minilm.csv")
    snapshot = read_sweep(client(mlflow_store), "replay-50")
    statuses = [run.data.tags["finesweep.status"] for run in snapshot.trials]
    assert len(statuses) == 50 and set(statuses) <= {"completed", "pruned"}
    assert "pruned" in statuses, "ASHA stopped trials"
    assert all(run.info.status == "FINISHED" for run in (*snapshot.trials, snapshot.parent))
    assert summary.max_concurrent == 16 and snapshot.parent.data.tags["finesweep.status"] == "finished"
    for run in snapshot.trials:
        curve = table.curves[int(run.data.metrics["replay_config"])]
        epoch = int(run.data.metrics["system/epoch"])
        assert run.data.metrics["val_macro_f1"] == pytest.approx(curve.epochs[epoch - 1]["val_macro_f1"])
        assert (run.data.tags["finesweep.status"] == "completed") == (epoch == 4)
        assert table.nearest({**loaded.params.model_dump(), **_config(run)})[0] is curve
    best = max(run.data.metrics["val_macro_f1"] for run in snapshot.with_status("completed"))
    assert summary.best_value == pytest.approx(best)
    tags = snapshot.parent.data.tags
    default = table.nearest(loaded.params.model_dump())[0]
    assert float(tags["baseline_default_val_macro_f1"]) == pytest.approx(default.epochs[-1]["val_macro_f1"])
    assert summary.board.compute.sweep_epochs == sum(run.data.metrics["system/epoch"] for run in snapshot.trials) < 200


def _config(run) -> dict:
    import json

    return json.loads(run.data.tags["finesweep.config"])
