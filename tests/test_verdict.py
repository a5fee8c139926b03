"""A verdict in every sweep's summary (issue 43 item 2): one line saying whether the best trial
beats each baseline on validation and test, and when it does not, what the data suggests, with
the figures; the same line on the parent run (``finesweep.verdict``) and in ``finesweep report``.
(The losing sweep's verdict is checked on tests/test_baselines.py's ``flat`` sweep.)"""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from finesweep.objective import MetricGoal
from finesweep.tracking.baselines import BaselineFigure, BestTrial
from finesweep.tracking.verdict import LearningRate, VerdictFacts, learning_rate_of, verdict_line

GOAL = MetricGoal("val_micro_f1", "max")
# KOTE's 300 rows as issue 43 measured them: the trial loses to all three baselines
KOTE = [BaselineFigure("baseline_trivial", "trivial (top label, or the best fixed set of top labels)", 0.406, 0.399),
        BaselineFigure("baseline_probe", "frozen base + logistic regression", 0.447, 0.447),
        BaselineFigure("baseline_knn", "frozen base + kNN", 0.482, 0.496)]  # fmt: skip


def test_a_losing_sweep_names_each_baseline_and_what_the_data_suggests_with_figures():
    counts = {f"label{i}": n for i, n in enumerate([120, 40, 12, 8, 3, 1])}
    facts = VerdictFacts(GOAL, KOTE, BestTrial("0003", 0.340, 0.322), counts, LearningRate(1e-5, 1e-5, 1e-3),
                         {"a": 1.0, "b": 1.0, "c": 1.0}, 4, 1.0)  # fmt: skip
    line = verdict_line(facts)
    assert line.startswith("verdict: the best trial 0003 (micro_f1 0.3400 / 0.3220, validation / test) does not beat ")
    for figure in KOTE:
        assert f"{figure.label} {figure.val:.4f} / {figure.test:.4f}" in line
    assert "too few examples per label: 184 training examples over 6 labels, median 10 per label (the fewest: 'label5', 1)" in line
    assert "the frozen probe wins (0.4470 / 0.4470)" in line
    assert "learning_rate 1e-05 is at the lower bound of the space [1e-05, 0.001]" in line
    assert "3 of 4 trials were stopped at the first rung (epoch 1)" in line
    assert "\n" not in line, "one line"


def test_a_winning_sweep_says_so_and_a_loss_on_test_alone_is_a_loss():
    won = verdict_line(VerdictFacts(GOAL, KOTE, BestTrial("0001", 0.60, 0.58)))
    assert won.startswith("verdict: the best trial 0001") and "beats every baseline: trivial" in won
    assert "suggests" not in won
    # better on validation, worse than kNN on test: not a win
    split = verdict_line(VerdictFacts(GOAL, KOTE, BestTrial("0001", 0.60, 0.45)))
    assert "does not beat frozen base + kNN 0.4820 / 0.4960" in split and "trivial" not in split
    # nothing to report when the data shows nothing: plenty of examples, the rate inside its range
    quiet = verdict_line(VerdictFacts(GOAL, [KOTE[0], KOTE[2]], BestTrial("0001", 0.30, 0.30), {"a": 500, "b": 400},
                                      LearningRate(3e-4, 1e-5, 1e-3)))  # fmt: skip
    assert quiet.endswith("frozen base + kNN 0.4820 / 0.4960"), quiet


def test_a_loss_is_read_in_the_metric_direction_and_the_learning_rate_range_from_the_recorded_space():
    loss = MetricGoal("val_loss", "min")
    base = [BaselineFigure("baseline_default", "default configuration, trained once", 0.50, 0.52)]
    assert "beats every baseline" in verdict_line(VerdictFacts(loss, base, BestTrial("7", 0.40, 0.41)))
    assert "does not beat" in verdict_line(VerdictFacts(loss, base, BestTrial("7", 0.60, 0.41)))
    space = {"learning_rate": {"distribution": "loguniform", "low": 1e-5, "high": 1e-3}}
    assert learning_rate_of(space, {"learning_rate": "0.00098"}) == LearningRate(0.00098, 1e-5, 1e-3)
    grid = {"learning_rate": {"distribution": "grid", "values": [1e-4, 3e-4, 1e-3]}}
    assert learning_rate_of(grid, {"learning_rate": "0.001"}) == LearningRate(1e-3, 1e-4, 1e-3)
    assert learning_rate_of({}, {"learning_rate": "0.001"}) is None, "not searched: no bound to be at"


def _cli(*args: str, cwd) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "finesweep", *args], capture_output=True, text=True, timeout=600, cwd=cwd)


@pytest.mark.slow
def test_a_winning_sweeps_summary_ends_with_its_verdict_also_on_the_parent_run_and_in_the_report(tmp_path, minilm_dir):
    """MiniLM with LoRA, as the quickstart trains it: the 2-layer random tiny BERT stays at the
    trivial answer on CARER in a test's budget (loss ln 6 after 4 epochs of 600 texts)."""
    from mlflow.tracking import MlflowClient

    from finesweep.tracking.leaderboard import sweep_parent

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    job = {
        "name": "wins",
        "dataset": {"name": "emotion_carer", "max_train_samples": 400, "max_eval_samples": 150},
        "model": {"base": str(minilm_dir)},
        "train": {"max_length": 48, "batch_size": 16, "epochs": 2, "seed": 3, "learning_rate": 2e-3,
                  "balancing": "class_weight"},
        "search": {"algorithm": "random", "num_samples": 1, "seed": 1, "space": None},
        "scheduler": {"type": "none"},
        "scaling": {"cpus_per_worker": 0.9, "trial_driver_cpus": 0.1},
        "baselines": {"frozen_probe": False, "default_trial": False},  # the trivial baseline alone, for a sure win
        "tracking": {"uri": store, "experiment": "verdict"},
        "storage_path": str(tmp_path / "results"),
    }  # fmt: skip
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    done = _cli("sweep", str(tmp_path / "job.yaml"), "--name", "wins", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("verdict: the best trial ") and " beats every baseline: trivial (top label" in last, done.stdout[-2000:]
    parent = sweep_parent(MlflowClient(store), "wins")
    assert parent.data.tags["finesweep.verdict"] == last
    report = tmp_path / "report.md"
    made = _cli("report", "--sweep", "wins", "--output", str(report), "--tracking-uri", store, cwd=tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    assert f"- V{last[1:]}" in report.read_text(encoding="utf-8")
