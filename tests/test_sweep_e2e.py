"""End-to-end sweeps on a real local Ray cluster, a real MLflow SQLite store and a tiny real BERT."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from finesweep.config import load_job
from finesweep.tracking.schema import TAG_PARENT, TAG_ROLE, TAG_STATUS, TAG_SWEEP, TAG_TRIAL
from job_parts import WITHOUT_BASELINES

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _write_job(tmp_path: Path, model_dir: Path, space: dict, **sections) -> Path:
    job = {
        "name": "e2e",
        "task": "text_classification",
        "dataset": {"name": "emotion_carer", "max_train_samples": 120, "max_eval_samples": 60},
        "model": {"base": str(model_dir)},
        "train": {"max_length": 32, "batch_size": 16, "epochs": 2, "seed": 3},
        "search": {"metric": "val_loss", "mode": "min", "algorithm": "tpe", "seed": 11, "num_samples": 4,
                   "space": "space.yaml"},
        "scheduler": {"type": "asha", "grace_period": 1, "max_t": 3, "reduction_factor": 2},
        "scaling": {"workers_per_trial": 1, "cpus_per_worker": 0.9, "trial_driver_cpus": 0.1},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "experiment": "e2e"},
        "storage_path": str(tmp_path / "results"),
        "verbose": 0,
        "baselines": dict(WITHOUT_BASELINES),
    }
    for key, value in sections.items():
        job[key] = {**job[key], **value} if isinstance(value, dict) else value
    (tmp_path / "space.yaml").write_text(yaml.safe_dump({"parameters": space}))
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def _runs(tracking_uri: str, sweep: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, filter_string=f"tags.`{TAG_SWEEP}` = '{sweep}'", max_results=1000)
    parents = [r for r in runs if r.data.tags.get(TAG_ROLE) == "sweep"]
    children = [r for r in runs if r.data.tags.get(TAG_ROLE) == "trial"]
    return client, parents, children


def test_tpe_asha_sweep_records_every_trial_and_frees_resources(tmp_path, mlflow_store, tiny_bert, ray_clean):
    from finesweep.tuning.sweep import run_sweep

    space = {
        "learning_rate": {"distribution": "loguniform", "low": 1e-5, "high": 5e-2},
        "epochs": {"distribution": "int", "low": 2, "high": 3},
        "balancing": {"distribution": "choice", "values": ["none", "oversample", "class_weight"]},
        "lora_r": {"distribution": "choice", "values": [2, 4]},
    }
    job = _write_job(tmp_path, tiny_bert, space, search={"num_samples": 6}, baselines={"frozen_probe": True})
    summary = run_sweep(load_job(job), name="tpe-asha")

    assert summary.resources_released, summary.leaked
    assert len(summary.statuses) == 6
    assert set(summary.statuses.values()) <= {"completed", "pruned"}
    assert summary.count("pruned") >= 1, summary.statuses
    assert summary.count("completed") >= 1, summary.statuses
    assert summary.best_value is not None

    import mlflow

    mlflow.set_tracking_uri(summary.tracking_uri)
    client, parents, children = _runs(summary.tracking_uri, "tpe-asha")
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["system/n_trials"] == 6
    assert parent.data.metrics["system/n_pruned"] == summary.count("pruned")
    assert parent.data.tags["finesweep.best_trial_id"] == summary.best_trial_id
    plots = {Path(a.path).name for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert {"learning_curves.png", "optimization_history.png", "parallel_coordinates.png"} <= plots
    assert len(children) == 6, "one child run per trial, no duplicates"
    assert len({c.data.tags[TAG_TRIAL] for c in children}) == 6
    param_keys = {frozenset(c.data.params) for c in children}
    assert len(param_keys) == 1, "every child carries the same param names (MLflow compare view)"
    for child in children:
        assert child.data.tags[TAG_PARENT] == parent.info.run_id
        status = child.data.tags[TAG_STATUS]
        assert status in {"completed", "pruned"}
        history = client.get_metric_history(child.info.run_id, "val_loss")
        steps = sorted(m.step for m in history)
        assert steps == list(range(1, len(steps) + 1)), "one val_loss per epoch, step = epoch"
        for timing in ("time_to_first_step_s", "train_time_s"):
            assert child.data.metrics[f"system/{timing}"] > 0, "run measurements sit in MLflow's system section"
            assert timing not in child.data.metrics
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"trial_config.json", "per_label_f1.json"} <= artifacts, "every trial, pruned ones too"
        model_metrics = sorted(key for key in child.data.metrics if not key.startswith("system/"))
        assert "epoch" not in model_metrics and "system/epoch" in child.data.metrics, "epoch is bookkeeping"
        per_label = [key for key in model_metrics if key.startswith(("val_f1_", "test_f1_"))]
        assert len(per_label) == (6 if status == "completed" else 3), "the 3 most frequent labels' F1 per split"
        assert len(model_metrics) <= 16, model_metrics
        config = json.loads(Path(mlflow.artifacts.download_artifacts(
            run_id=child.info.run_id, artifact_path="trial_config.json")).read_text())
        assert config["learning_rate"] == pytest.approx(float(child.data.params["learning_rate"]))
        if status == "completed":
            assert len(steps) == int(child.data.params["epochs"])
            assert {"confusion_matrix.png", "classification_report.txt"} <= artifacts
            from finesweep.tracking.models import resume_state_names

            assert not artifacts & resume_state_names(), "resume state stays in storage_path"
            model_dir = Path(mlflow.artifacts.download_artifacts(child.data.tags["finesweep.model_uri"]))
            model_files = {p.name for p in model_dir.rglob("*")}
            assert {"adapter_model.safetensors", "finesweep_model.json", "MLmodel"} <= model_files
            assert not any(name.endswith((".pkl", ".bin", ".pt")) for name in model_files), "safetensors only"
            assert "test_macro_f1" in child.data.metrics
        else:
            assert len(steps) < int(child.data.params["epochs"]), "pruned trials stop before their last epoch"
            assert "confusion_matrix.png" not in artifacts
        _check_run_records(child, parent)

    listed = _cli("sweeps", "--tracking-uri", summary.tracking_uri, "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = [r for r in json.loads(listed.stdout) if r["sweep"] == "tpe-asha"]
    assert (row["task"], row["status"], row["experiment"]) == ("text_classification", "finished", "e2e")
    assert (row["completed"], row["pruned"], row["failed"]) == (summary.count("completed"), summary.count("pruned"), 0)
    assert row["best"] == pytest.approx(summary.best_value)
    table = _cli("sweeps", "--tracking-uri", summary.tracking_uri, "--experiment", "e2e")
    assert "tpe-asha" in table.stdout and f"{summary.best_value:.4g}" in table.stdout

    board = _cli("leaderboard", "--sweep", "tpe-asha", "--tracking-uri", summary.tracking_uri, "--json")
    assert board.returncode == 0, board.stderr
    records = json.loads(board.stdout)["trials"]
    assert len(records) == summary.count("completed")
    losses = [r["val_loss"] for r in records]
    assert losses == sorted(losses), "mode min: best (lowest) first"
    assert records[0]["trial_id"] == summary.best_trial_id
    everything = _cli("leaderboard", "--sweep", "tpe-asha", "--tracking-uri", summary.tracking_uri,
                      "--json", "--include-pruned")
    assert len(json.loads(everything.stdout)["trials"]) == 6
    exported = tmp_path / "board.csv"
    _cli("leaderboard", "--sweep", "tpe-asha", "--tracking-uri", summary.tracking_uri, "--output", str(exported))
    assert exported.read_text().splitlines()[0].startswith("rank,trial_id,status,val_loss")

    report = _cli("report", "--sweep", "tpe-asha", "--tracking-uri", summary.tracking_uri,
                  "--output", str(tmp_path / "report.html"))
    assert report.returncode == 0, report.stderr
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 3 and summary.best_trial_id in page
    assert "ASHA saved" in page
    markdown = _cli("report", "--sweep", "tpe-asha", "--tracking-uri", summary.tracking_uri,
                    "--output", str(tmp_path / "md" / "report.md"))
    assert markdown.returncode == 0, markdown.stderr
    assert (tmp_path / "md" / "report_plots" / "learning_curves.png").stat().st_size > 10_000

    missing = _cli("leaderboard", "--sweep", "no-such-sweep", "--tracking-uri", summary.tracking_uri)
    assert missing.returncode == 2 and "no sweep named 'no-such-sweep'" in missing.stderr


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "finesweep", *args], capture_output=True, text=True, timeout=300)


def test_grid_runs_every_point_exactly_once(tmp_path, mlflow_store, tiny_bert, ray_clean):
    from finesweep.tuning.sweep import run_sweep

    space = {
        "lora_r": {"distribution": "grid", "values": [2, 4]},
        "balancing": {"distribution": "grid", "values": ["none", "class_weight"]},
    }
    job = _write_job(
        tmp_path, tiny_bert, space, search={"algorithm": "grid"}, scheduler={"type": "none"}, train={"epochs": 1}
    )
    summary = run_sweep(load_job(job), name="grid")
    assert summary.resources_released
    _, _, children = _runs(summary.tracking_uri, "grid")
    seen = sorted((int(c.data.params["lora_r"]), c.data.params["balancing"]) for c in children)
    expected = sorted(itertools.product([2, 4], ["none", "class_weight"]))
    assert seen == expected
    assert all(c.data.tags[TAG_STATUS] == "completed" for c in children)

    from finesweep.errors import SweepError

    with pytest.raises(SweepError, match="a sweep named 'grid' already exists"):
        run_sweep(load_job(job), name="grid")


def test_tpe_on_a_finite_space_runs_each_configuration_once(tmp_path, mlflow_store, tiny_bert, ray_clean):
    """Two configurations and a budget of four: two trials, different, and the sweep ends."""
    from finesweep.tuning.sweep import run_sweep

    job = _write_job(
        tmp_path, tiny_bert, {"lora_r": {"distribution": "choice", "values": [2, 4]}},
        search={"num_samples": 4}, scheduler={"type": "none"}, train={"epochs": 1},
    )  # fmt: skip
    summary = run_sweep(load_job(job), name="finite")
    _, _, children = _runs(summary.tracking_uri, "finite")
    assert sorted(c.data.params["lora_r"] for c in children) == ["2", "4"]
    assert summary.count("completed") == 2


def _check_run_records(child, parent) -> None:
    """What MLflow's UI shows of a trial: a short name, its data as dataset inputs, MLflow's own
    source tags, and only measurements as metrics (bookkeeping is in tags)."""
    assert child.info.run_name == f"trial {int(child.info.run_name.split()[1])} · {child.data.tags[TAG_TRIAL]}"
    contexts = {inp.tags[0].value: inp.dataset for inp in child.inputs.dataset_inputs}
    assert set(contexts) == {"training", "validation", "test"}, contexts
    assert {d.name for d in contexts.values()} == {"emotion_carer/train", "emotion_carer/validation", "emotion_carer/test"}
    assert len({d.digest for d in contexts.values()}) == 3, "each split has its own digest"
    assert {inp.dataset.digest for inp in parent.inputs.dataset_inputs} == {d.digest for d in contexts.values()}
    for run in (child, parent):
        assert run.data.tags["mlflow.source.name"].endswith("job.yaml")
        assert run.data.tags["mlflow.source.type"] == "LOCAL"
    for key in ("final", "stopped_early", "restarts", "process_trial_index"):
        assert key not in child.data.metrics, f"{key} is bookkeeping, not a metric"
        assert child.data.tags[f"finesweep.{key}"].isdigit()
    assert child.data.tags["finesweep.final"] == ("1" if child.data.tags[TAG_STATUS] == "completed" else "0")


@pytest.mark.quality
def test_quickstart_cli_with_minilm(tmp_path, data_dir):
    """The README's quickstart command on the real MiniLM base, with a reduced budget."""
    command = [
        sys.executable, "-m", "finesweep", "sweep", str(REPO / "jobs" / "quickstart.yaml"),
        "--name", "ci-quickstart",
        "--set", "search.num_samples=2",
        "--set", "dataset.max_train_samples=96",
        "--set", "dataset.max_eval_samples=48",
        "--set", f"storage_path={tmp_path / 'results'}",
    ]  # fmt: skip
    env = {**os.environ, "FINESWEEP_DATA_DIR": str(data_dir)}
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Leaderboard for sweep 'ci-quickstart'" in done.stdout
    assert "best trial" in done.stdout
    assert (tmp_path / "mlflow.db").is_file(), "the default store is ./mlflow.db in the working directory"
    _, parents, children = _runs(f"sqlite:///{tmp_path / 'mlflow.db'}", "ci-quickstart")
    assert len(parents) == 1 and len(children) == 2
    _check_quiet_console(done.stdout + done.stderr, children)


def _check_quiet_console(output: str, children: list) -> None:
    """By default the console holds finesweep's lines, one per trial event, and the leaderboard:
    none of Ray's, Tune's, MLflow's or transformers' own output."""
    lines = [line for line in output.splitlines() if line.strip()]
    for noise in ("(run_trial", "Trial status", "Checkpoint successfully", "Warning", "INFO", "╭", "View detailed"):
        assert not [line for line in lines if noise in line], f"{noise!r} on the console:\n{output[-3000:]}"
    for run in children:
        name = run.info.run_name  # "trial 2 · 05b06ea0", as on the console
        assert any(f"finesweep: {name} started: learning_rate" in line for line in lines), name
        assert any(f"finesweep: {name} " in line and (" completed after " in line or " stopped early by ASHA " in line)
                   for line in lines), name  # fmt: skip
    epochs = sum(len(line.split()) > 0 and " epoch " in line for line in lines)
    # start + end per trial, one line per epoch, ~8 lines before the trials and ~12 after them
    assert len(lines) <= 8 + 2 * len(children) + epochs + 12, output


def test_reused_trial_actors_wait_long_enough_for_the_previous_trial(ray_session):
    """Tune reuses a trial's actor only once the previous trial's thread has ended, waiting
    TUNE_FUNCTION_THREAD_TIMEOUT_S (2 s by default); on a busy node that was too short, and the next
    trial was errored before it started (lost from the record; with the wait forced to 0 the driver
    hung). A local Ray started by finesweep gives its workers 30 s."""
    @ray_session.remote(num_cpus=0)
    def seen() -> str | None:
        return os.environ.get("TUNE_FUNCTION_THREAD_TIMEOUT_S")

    assert ray_session.get(seen.remote()) == os.environ.get("TUNE_FUNCTION_THREAD_TIMEOUT_S", "30")
