"""Baseline tags that are not finite numbers (issue 44, defect 5).

A parent run's ``baseline_*`` tag of ``nan`` or ``inf`` is left out wherever baselines are read
back (``leaderboard``, ``sweeps``, promotion's trivial floor), with a warning naming the tag; the
other baselines stay. Read from a real MLflow SQLite store.
"""

from __future__ import annotations

import pytest

SWEEP = "odd-figures"
ODD = {"baseline_trivial_val_macro_f1": "nan", "baseline_trivial_test_macro_f1": "inf",
       "baseline_knn_test_macro_f1": "-inf", "baseline_default_epochs": "NaN"}  # fmt: skip
KEPT = {"baseline_probe_val_macro_f1": "0.41", "baseline_probe_test_macro_f1": "0.4",
        "baseline_knn_val_macro_f1": "0.52", "baseline_trivial_val_accuracy": "0.33"}  # fmt: skip


@pytest.fixture
def store(mlflow_store):
    """A sweep whose parent run holds the ``ODD`` and ``KEPT`` baseline tags, with one completed
    trial (validation and test macro-F1 1.0, a model URI) and one failed."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_store)
    experiment = client.create_experiment("odd-figures")
    tags = {"finesweep.sweep": SWEEP, "finesweep.role": "sweep", "finesweep.task": "text_classification",
            "finesweep.objective": '{"goals":[["val_macro_f1","max"]],"constraints":[]}', **ODD, **KEPT}  # fmt: skip
    parent = client.create_run(experiment, tags=tags)
    for trial, status in (("a1", "completed"), ("b2", "failed")):
        run = client.create_run(experiment, tags={"finesweep.sweep": SWEEP, "finesweep.role": "trial",
                                                  "finesweep.trial_id": trial, "finesweep.status": status,
                                                  "finesweep.model_uri": "runs:/fake/model",
                                                  "mlflow.parentRunId": parent.info.run_id})  # fmt: skip
        if status == "completed":
            for key in ("val_macro_f1", "test_macro_f1", "system/epoch"):
                client.log_metric(run.info.run_id, key, 1.0)
        client.set_terminated(run.info.run_id, "FINISHED" if status == "completed" else "FAILED")
    client.set_terminated(parent.info.run_id)
    return mlflow_store


def _named_once(warnings: list[str]) -> None:
    for key, value in ODD.items():
        [line] = [w for w in warnings if f" {key} " in w]
        assert repr(value) in line and "not a finite number" in line and SWEEP in line, line
    assert not [w for w in warnings if any(f" {key} " in w for key in KEPT)], warnings


def test_the_leaderboard_leaves_out_non_finite_baselines_and_names_their_tags(store):
    from finesweep.tracking.baselines import baseline_lines, best_trial_of
    from finesweep.tracking.leaderboard import leaderboard

    board = leaderboard(store, SWEEP)
    shown = {f.name: (f.val, f.test) for f in board.baselines}
    assert shown == {"baseline_probe": (0.41, 0.4), "baseline_knn": (0.52, None)}, "trivial's are nan and inf"
    assert board.compute is None, "baseline_default_epochs is NaN: no compute comparison"
    _named_once(board.warnings)
    printed = "\n".join(baseline_lines(board.baselines, board.goal, best_trial_of(board), board.compute))
    assert "nan" not in printed and "inf" not in printed, printed
    assert "gain +0.5900 / +0.6000" in printed and "gain +0.4800 / -" in printed, printed


def test_sweeps_shows_the_best_finite_baseline(store):
    from finesweep.tracking.leaderboard import sweeps_table

    warnings: list[str] = []
    [row] = sweeps_table(store, warnings=warnings).to_dict(orient="records")
    assert row["best_baseline"] == pytest.approx(0.52), "the kNN's; trivial's nan hid it before"
    _named_once(warnings)


def test_the_trivial_floor_leaves_out_a_non_finite_figure():
    from types import SimpleNamespace

    from finesweep.objective import MetricGoal
    from finesweep.promotion.registry import _below_floor, guard_floors
    from finesweep.tasks import get_task
    from finesweep.tasks.base import HeldOut
    from finesweep.tracking.baselines import recorded_figures

    parent = SimpleNamespace(data=SimpleNamespace(tags={"finesweep.sweep": "s", **ODD, **KEPT}), info=SimpleNamespace(run_name="s"))
    warnings: list[str] = []
    floor = guard_floors(get_task("text_classification"), recorded_figures(parent, warnings))
    assert floor == (), "trivial's only test figure is inf"
    perfect = HeldOut({"test_macro_f1": 1.0}, 10, "text", 1.0, {})
    assert _below_floor(MetricGoal("test_macro_f1", "max"), perfect, floor) is None
    assert len(warnings) == len(ODD)
    assert recorded_figures(parent) == {key: float(value) for key, value in KEPT.items()}, "no list: left out quietly"


def test_the_commands_warn_on_stderr_and_promotion_takes_a_perfect_model(store, monkeypatch):
    """``sweeps``, ``leaderboard`` (table and --json) and ``promote-best-model --dry-run`` through
    the CLI in this process; promotion's model, test split and evaluation are stand-ins (the
    question is the floor read from the tags, not the model)."""
    import json

    from typer.testing import CliRunner

    from finesweep import cli
    from finesweep.promotion import registry
    from finesweep.serving import loading
    from finesweep.tasks import get_task
    from finesweep.tasks.base import HeldOut

    runner = CliRunner()

    def invoke(*args: str):
        done = runner.invoke(cli.app, [*args, "--tracking-uri", store])
        assert done.exit_code == 0, (done.output, done.exception)
        warned = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
        assert len(warned) == len(ODD) and all(f"sweep {SWEEP!r}" in line for line in warned), done.stderr
        assert "nan" not in done.stdout.lower() and "inf" not in done.stdout, done.stdout
        return done

    swept = invoke("sweeps", "--json")
    assert json.loads(swept.stdout)[0]["best_baseline"] == pytest.approx(0.52)
    board = invoke("leaderboard", "--sweep", SWEEP)
    assert "frozen base + kNN" in board.stdout and "trivial" not in board.stdout, board.stdout
    document = json.loads(invoke("leaderboard", "--sweep", SWEEP, "--json").stdout)
    assert [b["baseline"] for b in document["baselines"]] == ["baseline_probe", "baseline_knn"]

    task = type(get_task("text_classification"))
    monkeypatch.setattr(registry, "resolved_job", lambda uri, run_id: {"task": "text_classification", "dataset": {}})
    monkeypatch.setattr(registry, "sweep_test_split", lambda *args: type("Split", (), {"fingerprint": "f"})())
    monkeypatch.setattr(loading, "load_model", lambda uri, tracking_uri=None: object())
    monkeypatch.setattr(task, "evaluate_held_out", lambda self, model, split: HeldOut({"test_macro_f1": 1.0}, 10, "text", 1.0, {}))
    promoted = invoke("promote-best-model", "--sweep", SWEEP, "--model-name", "m", "--dry-run")
    assert "dry run: would promote (there is no champion yet)" in promoted.stdout, promoted.stdout
    assert "baseline_trivial_test_macro_f1" in promoted.stderr
