"""Baselines on every classification sweep (``baseline_<name>_{val,test}_*``, tags on the parent run): the trivial one (the most frequent label), the frozen
base model's logistic-regression probe and kNN, logged on the parent run, printed beside the best
trial, and promotion's floor: a challenger that does not beat the trivial baseline is refused."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from finesweep.tasks._classification_baselines import FrozenProbe, LabelledSplits, trivial_baseline


def _splits(labels: dict[str, list], n_labels: int, multi: bool, texts: dict[str, list[str]] | None = None) -> LabelledSplits:
    texts = texts or {split: [f"text {i}" for i in range(len(values))] for split, values in labels.items()}
    return LabelledSplits(texts, labels, n_labels, multi)


def test_the_trivial_baseline_answers_the_most_frequent_training_label():
    splits = _splits({"train": [2, 2, 1, 0, 2], "validation": [2, 1, 2, 2], "test": [0, 1]}, 3, False)
    figures = trivial_baseline(splits)
    # always 2: validation 3 of 4 right, F1 of class 2 = 2*0.75/1.75, the other two 0
    assert figures["baseline_trivial_val_accuracy"] == pytest.approx(0.75)
    assert figures["baseline_trivial_val_macro_f1"] == pytest.approx((2 * 0.75 / 1.75) / 3)
    assert figures["baseline_trivial_test_accuracy"] == 0.0 and figures["baseline_trivial_test_macro_f1"] == 0.0


def test_the_multi_label_trivial_baseline_picks_how_many_frequent_labels_on_train():
    # label 0 on every training text, label 1 on half: answering {0, 1} beats {0} on train micro-F1
    train = [[0, 1], [0], [0, 1], [0], [0, 1], [0, 1]]
    splits = _splits({"train": train, "validation": [[0], [1]], "test": [[2], [0, 1]]}, 3, True)
    figures = trivial_baseline(splits)
    # always {0, 1}: validation tp 2, fp 2, fn 0 -> micro-F1 4/6; test tp 2, fp 2, fn 1 -> 4/7
    assert figures["baseline_trivial_val_micro_f1"] == pytest.approx(4 / 6)
    assert figures["baseline_trivial_test_micro_f1"] == pytest.approx(4 / 7)
    assert figures["baseline_trivial_test_accuracy"] == pytest.approx(0.5)


@pytest.mark.parametrize("multi", [False, True], ids=["single-label", "multi-label"])
def test_the_frozen_probe_embeds_with_the_base_model_and_its_knn_finds_each_text_itself(tiny_bert, data_dir, multi):
    """Validation and test are the training texts: a 1-nearest-neighbour vote on the frozen
    embeddings then answers each text's own labels, whatever the model learned."""
    lines = (data_dir / "emotion_carer" / "train.txt").read_text(encoding="utf-8").splitlines()[:60]
    texts = [line.rsplit(";", 1)[0] for line in lines]
    names = sorted({line.rsplit(";", 1)[1] for line in lines})
    single = [names.index(line.rsplit(";", 1)[1]) for line in lines]
    labels = [[y, (y + 1) % len(names)] if i % 3 == 0 else [y] for i, y in enumerate(single)] if multi else single
    splits = _splits({s: labels for s in ("train", "validation", "test")}, len(names), multi,
                     {s: texts for s in ("train", "validation", "test")})  # fmt: skip
    figures = FrozenProbe(str(tiny_bert), splits, 32, 1, (0.25, 0.5, 0.75))()
    measure = "micro_f1" if multi else "accuracy"
    assert figures[f"baseline_knn_val_{measure}"] == pytest.approx(1.0) and figures[f"baseline_knn_test_{measure}"] == pytest.approx(1.0)
    probe = {k: v for k, v in figures.items() if k.startswith("baseline_probe_") and k != "system/baseline_probe_time_s"}
    assert probe and all(0.0 <= v <= 1.0 for v in probe.values()), probe
    assert figures["system/baseline_probe_time_s"] > 0


def test_a_job_turns_the_frozen_probe_off(tmp_path, tiny_bert):
    from finesweep.config import load_job
    from finesweep.tasks import get_task

    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump({"dataset": {"name": "emotion_carer"}, "model": {"base": str(tiny_bert)},
                                    "baselines": {"frozen_probe": False}}))  # fmt: skip
    assert get_task("text_classification").background_baselines(load_job(path), None, str(tiny_bert)) is None


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "finesweep", *args], capture_output=True, text=True, timeout=600, cwd=cwd)


@pytest.fixture(scope="module")
def flat(tmp_path_factory, tiny_bert):
    """A sweep whose one trial cannot learn (learning rate 1e-9), through the CLI (its own local
    Ray): its output."""
    root = tmp_path_factory.mktemp("baselines")
    store = f"sqlite:///{root / 'mlflow.db'}"
    job = {
        "name": "flat",
        "dataset": {"name": "emotion_carer", "max_train_samples": 300, "max_eval_samples": 100},
        "model": {"base": str(tiny_bert)},
        "train": {"max_length": 32, "batch_size": 16, "epochs": 1, "seed": 3, "learning_rate": 1e-9},
        "search": {"algorithm": "random", "num_samples": 1, "seed": 1, "space": None},
        "scheduler": {"type": "none"},
        "scaling": {"cpus_per_worker": 0.9, "trial_driver_cpus": 0.1},
        "tracking": {"uri": store, "experiment": "baselines"},
        "storage_path": str(root / "results"),
    }  # fmt: skip
    (root / "job.yaml").write_text(yaml.safe_dump(job))
    done = _cli("sweep", str(root / "job.yaml"), "--name", "flat", cwd=root)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "still held" not in done.stdout + done.stderr, "the probe's actor is gone when the sweep ends"
    return root, store, done.stdout


@pytest.mark.slow
def test_a_sweep_logs_and_prints_its_baselines_beside_the_best_trial(flat, data_dir):
    from mlflow.tracking import MlflowClient

    from finesweep.tracking.baselines import recorded_figures
    from finesweep.tracking.leaderboard import sweep_parent

    root, store, printed = flat
    parent = sweep_parent(MlflowClient(store), "flat")
    metrics = recorded_figures(parent)
    assert not [key for key in parent.data.metrics if "baseline_" in key.removeprefix("system/baseline_probe")], (
        "baselines are tags: as metrics they would lead MLflow's chart view")
    assert parent.data.metrics["system/baseline_probe_start_s"] > 0, "what starting the probe delayed the trials by"
    for name in ("trivial", "probe", "knn"):
        for split in ("val", "test"):
            assert f"baseline_{name}_{split}_macro_f1" in metrics and f"baseline_{name}_{split}_accuracy" in metrics, name
    # the trivial figure is the majority class's share of the validation split, as the data says
    from finesweep.config import load_job
    from finesweep.data.prepare import prepare_dataset

    loaded = load_job(root / "job.yaml")
    data = prepare_dataset(loaded.job.dataset, loaded.resolve_path)
    majority = Counter(data.splits["train"]["label"]).most_common(1)[0][0]
    share = np.mean([label == majority for label in data.splits["validation"]["label"]])
    assert metrics["baseline_trivial_val_accuracy"] == pytest.approx(share)
    block = printed[printed.index("baselines on macro_f1"):].splitlines()
    assert "gain of the best trial" in block[0] and block[1].lstrip().startswith("trivial (top label, or the best fixed set of top labels)")
    assert "frozen base + logistic regression" in block[2] and "frozen base + kNN" in block[3] and "gain" in block[3]

    board = _cli("leaderboard", "--sweep", "flat", "--tracking-uri", store, cwd=root)
    assert board.returncode == 0 and "baselines on macro_f1" in board.stdout, board.stdout + board.stderr
    document = json.loads(_cli("leaderboard", "--sweep", "flat", "--json", "--tracking-uri", store, cwd=root).stdout)
    assert [b["baseline"] for b in document["baselines"]] == ["baseline_trivial", "baseline_probe", "baseline_knn"]
    assert document["baselines"][0]["val"] == pytest.approx(metrics["baseline_trivial_val_macro_f1"])
    [row] = json.loads(_cli("sweeps", "--json", "--tracking-uri", store, cwd=root).stdout)
    best = max(metrics[f"baseline_{n}_val_macro_f1"] for n in ("trivial", "probe", "knn"))
    assert row["best_baseline"] == pytest.approx(best)


@pytest.mark.slow
def test_a_losing_sweeps_summary_ends_with_a_verdict_naming_what_beat_it_and_why(flat):
    """Issue 43 item 2: the summary's last line says which baselines the best trial does not beat,
    with their figures, and what the data suggests (300 CARER texts over 6 labels: too few)."""
    from mlflow.tracking import MlflowClient

    from finesweep.tracking.baselines import recorded_figures
    from finesweep.tracking.leaderboard import leaderboard, sweep_parent

    root, store, printed = flat
    last = printed.strip().splitlines()[-1]
    assert last.startswith("verdict: the best trial ") and " does not beat " in last, printed[-2000:]
    parent = sweep_parent(MlflowClient(store), "flat")
    assert parent.data.tags["finesweep.verdict"] == last, "the same verdict on the parent run"
    figures, board = recorded_figures(parent), leaderboard(store, "flat")
    best = board.metrics[board.table.iloc[0]["run_id"]]
    for figure in board.baselines:
        beaten = best["val_macro_f1"] > figure.val and best["test_macro_f1"] > figure.test
        assert (f"{figure.label} {figure.val:.4f} / {figure.test:.4f}" in last) == (not beaten), (figure, last)
    assert figures["baseline_trivial_val_macro_f1"] >= 0
    assert "the data suggests: too few examples per label: 300 training examples over 6 labels" in last, last


@pytest.mark.slow
def test_promotion_refuses_a_model_that_does_not_beat_the_trivial_baseline_unless_forced(flat):
    from mlflow.tracking import MlflowClient

    root, store, _ = flat
    refused = _cli("promote-best-model", "--sweep", "flat", "--model-name", "flat", "--tracking-uri", store, cwd=root)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "does not beat the trivial baseline's" in refused.stderr, refused.stderr
    header = next(line for line in refused.stdout.splitlines() if "challenger (v" in line)
    assert "trivial baseline" in header and "test_macro_f1" in refused.stdout, refused.stdout
    client = MlflowClient(store)
    assert not client.get_registered_model("flat").aliases, "no champion moved"
    forced = _cli("promote-best-model", "--sweep", "flat", "--model-name", "flat", "--tracking-uri", store, "--force", cwd=root)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "forced: the challenger's test_macro_f1" in forced.stdout
    assert client.get_model_version_by_alias("flat", "champion").version


@pytest.mark.slow
def test_the_default_configuration_is_trained_once_beside_the_trials_and_compared(tmp_path, mlflow_store, tiny_bert,
                                                                                   data_dir, ray_clean):  # fmt: skip
    """``baselines.default_trial``: the job's own train: values, trained once outside Tune, give the
    same figures as ``finesweep train`` of the job; they are logged on the parent run, not as a
    trial, and the summary compares the best trial with them and their compute with the sweep's."""
    from finesweep.config import load_job
    from finesweep.tracking.baselines import baseline_lines, best_trial_of, recorded_figures
    from finesweep.tracking.leaderboard import sweep_parent
    from finesweep.tracking.store import client
    from finesweep.tuning.sweep import run_sweep
    from finesweep.tuning.commands.train import train_one

    job = {
        "name": "with-default",
        "dataset": {"name": "emotion_carer", "max_train_samples": 200, "max_eval_samples": 80},
        "model": {"base": str(tiny_bert)},
        "train": {"max_length": 32, "batch_size": 16, "epochs": 2, "seed": 5, "learning_rate": 2e-3},
        "search": {"algorithm": "grid", "space": None,
                   "overrides": {"learning_rate": {"distribution": "grid", "values": [1e-3, 3e-3]}}},
        "scheduler": {"type": "none"},
        "scaling": {"cpus_per_worker": 0.9},  # two trials fill the session's 2 CPUs: the default queues with them
        "baselines": {"frozen_probe": False},
        "tracking": {"uri": mlflow_store, "experiment": "default-trial"},
        "storage_path": str(tmp_path / "results"),
        "verbose": 0,
    }  # fmt: skip
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    summary = run_sweep(load_job(path), name="with-default")
    assert sorted(summary.statuses.values()) == ["completed", "completed"], "the default is no trial of the sweep"

    figures = recorded_figures(sweep_parent(client(mlflow_store), "with-default"))
    alone = train_one(load_job(path), tmp_path / "alone", tracking=False).final
    assert figures["baseline_default_val_macro_f1"] == pytest.approx(alone["val_macro_f1"], abs=1e-6)
    assert figures["baseline_default_test_macro_f1"] == pytest.approx(alone["test_macro_f1"], abs=1e-6)
    assert figures["baseline_default_epochs"] == 2.0

    board = summary.board
    lines = baseline_lines(board.baselines, board.goal, best_trial_of(board), board.compute)
    default_line = next(line for line in lines if "default configuration, trained once" in line)
    assert f"{figures['baseline_default_val_macro_f1']:.4f}" in default_line and "gain" in default_line
    assert lines[-1].strip() == "compute: the sweep's trials ran 4 trial-epochs, the default configuration 2 (2.0x)"


def test_a_sweep_whose_trials_all_failed_names_no_best_trial_beside_its_baselines(mlflow_store):
    """Every trial failed: the baselines print without a best trial's gain (no ``(- / -)``)."""
    from mlflow.tracking import MlflowClient

    from finesweep.tracking.baselines import baseline_lines, best_trial_of
    from finesweep.tracking.leaderboard import rank
    from finesweep.tracking.snapshot import SweepSnapshot

    client = MlflowClient(mlflow_store)
    experiment = client.create_experiment("all-failed")
    parent_tags = {"finesweep.sweep": "s", "finesweep.role": "sweep", "finesweep.task": "text_classification",
                   "finesweep.objective": '{"goals":[["val_macro_f1","max"]],"constraints":[]}',
                   "baseline_trivial_val_macro_f1": "0.1", "baseline_trivial_test_macro_f1": "0.09"}  # fmt: skip
    parent = client.create_run(experiment, tags=parent_tags)
    for trial in ("a1", "b2"):
        run = client.create_run(experiment, tags={"finesweep.sweep": "s", "finesweep.role": "trial", "finesweep.trial_id": trial,
                                                  "finesweep.status": "failed", "mlflow.parentRunId": parent.info.run_id})  # fmt: skip
        client.set_terminated(run.info.run_id, "FAILED")
    runs = client.search_runs([experiment], "tags.`finesweep.role` = 'trial'")
    board = rank(SweepSnapshot(client.get_run(parent.info.run_id), tuple(runs)), include_pruned=True)
    assert len(board.table) == 2 and best_trial_of(board) is None
    lines = baseline_lines(board.baselines, board.goal, best_trial_of(board))
    assert lines[0] == "baselines on macro_f1 (validation / test):" and "gain" not in "\n".join(lines)
