"""The search itself, end to end on a real local Ray, a real MLflow store and a tiny real BERT:
every searcher; ranking and promotion by a metric's own direction; two objectives with Pareto-aware
stopping (MO-ASHA) and constraints; warm starts; ``--more``; budgets in epochs and in time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from finesweep.config import load_job
from finesweep.tracking.schema import TAG_STATUS, TAG_TRIAL
from job_parts import WITHOUT_BASELINES

pytestmark = pytest.mark.slow

SPACE = {
    "learning_rate": {"distribution": "loguniform", "low": 1e-4, "high": 5e-2},
    "lora_r": {"distribution": "choice", "values": [2, 16]},
}
# lora_r decides the adapter's size exactly: r=2 trains 0.0067 MiB, r=16 0.0204 MiB on the tiny BERT
SMALL_ADAPTER = "model_size_mb <= 0.01"


def _job(folder: Path, model: Path, name: str, store: str, **sections) -> Path:
    job = {
        "name": name,
        "dataset": {"name": "emotion_carer", "max_train_samples": 80, "max_eval_samples": 40},
        "model": {"base": str(model)},
        "train": {"max_length": 32, "batch_size": 16, "epochs": 1, "seed": 3},
        "search": {"algorithm": "tpe", "seed": 11, "num_samples": 2, "overrides": SPACE},
        "scheduler": {"type": "none"},
        "scaling": {"cpus_per_worker": 0.9, "trial_driver_cpus": 0.1},
        "tracking": {"uri": store, "experiment": "search"},
        "storage_path": str(folder / "results"),
        "baselines": dict(WITHOUT_BASELINES),
        "verbose": 0,
    }
    for key, value in sections.items():
        job[key] = {**job[key], **value} if isinstance(value, dict) and isinstance(job.get(key), dict) else value
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def _trials(store: str, sweep: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("search")
    return client.search_runs([experiment.experiment_id],
                              filter_string=f"tags.`finesweep.sweep` = '{sweep}' and tags.`finesweep.role` = 'trial'")  # fmt: skip


def _parent(store: str, sweep: str):
    from mlflow.tracking import MlflowClient

    from finesweep.tracking.leaderboard import sweep_parent

    return sweep_parent(MlflowClient(store), sweep)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "finesweep", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("search")


@pytest.fixture(scope="module")
def store(folder, _migrated_store_template) -> str:
    import shutil

    shutil.copyfile(_migrated_store_template, folder / "mlflow.db")
    return f"sqlite:///{folder / 'mlflow.db'}"


def _drive(path: Path, trials: int) -> list[tuple[dict, dict]]:
    """Tune's calls on the sweep's searcher (suggest, then on_trial_complete), each proposal trained
    on the tiny BERT in this process by the sweep's own loop (``finesweep train``'s path)."""
    import json

    from finesweep.tuning.search.build import build_search, default_request
    from finesweep.tuning.commands.train import train_one

    loaded = load_job(path)
    searcher = build_search(loaded, default_request(loaded)).search_alg
    seen = []
    for number in range(trials):
        config = searcher.suggest(f"t{number}")
        overrides = [f"train.{name}={json.dumps(value)}" for name, value in config.items()]
        result = train_one(load_job(path, overrides), path.parent / f"model-{path.stem}-{number}", tracking=False)
        searcher.on_trial_complete(f"t{number}", result.final)
        seen.append((config, result.final))
    return seen


@pytest.mark.parametrize("algorithm", ["tpe", "random", "gp", "cmaes", "qmc", "grid"])
def test_every_single_objective_searcher_proposes_and_learns_on_the_tiny_model(algorithm, folder, store, tiny_bert):
    space = {"lora_r": {"distribution": "choice", "values": [2, 16]}} if algorithm == "grid" else SPACE
    path = _job(folder, tiny_bert, f"one-{algorithm}", store, search={"algorithm": algorithm, "overrides": space})
    seen = _drive(path, 2)
    assert len({json.dumps(config, sort_keys=True) for config, _ in seen}) == 2, f"{algorithm}: two configurations"
    assert all("val_macro_f1" in metrics and "test_macro_f1" in metrics for _, metrics in seen)


@pytest.mark.parametrize("algorithm", ["motpe", "nsga2"])
def test_every_multi_objective_searcher_proposes_and_learns_on_the_tiny_model(algorithm, folder, store, tiny_bert):
    objectives = [{"metric": "val_macro_f1"}, {"metric": "model_size_mb"}]
    options = {"population_size": 2} if algorithm == "nsga2" else {}
    path = _job(folder, tiny_bert, f"two-{algorithm}", store,
                search={"algorithm": algorithm, "objectives": objectives, "options": options})  # fmt: skip
    seen = _drive(path, 3)
    assert len(seen) == 3 and all("model_size_mb" in metrics for _, metrics in seen)


@pytest.fixture(scope="module")
def maximising(folder, store, tiny_bert, ray_session) -> str:
    """A sweep that maximises val_macro_f1, with trials that differ in val_loss."""
    from finesweep.tuning.sweep import run_sweep

    job = _job(folder, tiny_bert, "maximising", store, search={"num_samples": 4, "metric": "val_macro_f1"},
               train={"epochs": 2})  # fmt: skip
    run_sweep(load_job(job), name="maximising")
    return "maximising"


def test_a_loss_ranks_lowest_first_on_a_sweep_that_maximises(maximising, store):
    from finesweep.promotion.registry import promote_best_model

    board = _cli("leaderboard", "--sweep", maximising, "--metric", "val_loss", "--json", "--tracking-uri", store)
    assert board.returncode == 0, board.stderr
    document = json.loads(board.stdout)
    losses = [row["val_loss"] for row in document["trials"]]
    assert document["mode"] == "min" and losses == sorted(losses) and len(set(losses)) > 1, document
    by_f1 = _cli("leaderboard", "--sweep", maximising, "--json", "--tracking-uri", store)
    scores = [row["val_macro_f1"] for row in json.loads(by_f1.stdout)["trials"]]
    assert scores == sorted(scores, reverse=True)
    chosen = promote_best_model(store, maximising, "by-loss", metric="val_loss", dry_run=True, force=True)
    lowest = min(_trials(store, maximising), key=lambda r: r.data.metrics["val_loss"])
    assert chosen.chosen.startswith(f"trial {lowest.data.tags[TAG_TRIAL]}: best val_loss (min)"), chosen.chosen
    assert chosen.goal.metric == "test_loss" and chosen.goal.mode == "min"


def test_a_warm_start_gives_the_sampler_the_earlier_trials(maximising, folder, store, tiny_bert, ray_clean):
    from finesweep.tuning._inputs import read_inputs
    from finesweep.tuning._state import SweepState
    from finesweep.tuning._prepare import prepare_sweep
    from finesweep.tuning._tuner import tuner_parts
    from finesweep.tuning.sweep import SweepOptions, run_sweep

    earlier = [r for r in _trials(store, maximising) if r.data.tags[TAG_STATUS] == "completed"]
    path = _job(folder, tiny_bert, "warm", store, search={"num_samples": 2, "warm_start": [maximising],
                                                          "options": {"n_startup_trials": 2}})  # fmt: skip
    setup = prepare_sweep(load_job(path), "warm-plan", SweepOptions())
    state = SweepState(setup, read_inputs(setup))
    study = tuner_parts(state).search.study.study
    values = {t.user_attrs["finesweep_prior"]: t.values[0] for t in study.trials}
    assert values == {f"{maximising}/{r.data.tags[TAG_TRIAL]}": r.data.metrics["val_macro_f1"] for r in earlier}
    assert all(t.state.name == "COMPLETE" for t in study.trials)
    assert len(study.trials) >= 2, "as many priors as start-up trials: TPE models the space from the first trial on"
    summary = run_sweep(load_job(path), name="warm")
    parent = _parent(store, "warm")
    assert parent.data.tags["finesweep.warm_start"] == maximising
    assert int(parent.data.tags["finesweep.warm_start_trials"]) == len(earlier) == summary.warm_started


def test_a_warm_start_from_other_data_is_refused_unless_transfer_is_asked(maximising, folder, store, tiny_bert, capsys):
    from finesweep.tuning._inputs import read_inputs
    from finesweep.tuning._state import SweepState
    from finesweep.tuning._prepare import prepare_sweep
    from finesweep.tuning.sweep import SweepOptions

    other = {"name": "emotion_carer", "max_train_samples": 90, "max_eval_samples": 40}
    for transfer in (False, True):
        path = _job(folder, tiny_bert, f"other-{transfer}", store, dataset=other,
                    search={"warm_start": [maximising], "warm_start_transfer": transfer})  # fmt: skip
        setup = prepare_sweep(load_job(path), f"other-{transfer}", SweepOptions())
        state = SweepState(setup, read_inputs(setup))
        printed = capsys.readouterr().out
        if transfer:
            assert state.prior.trials and "search.warm_start_transfer is true" in printed, printed
        else:
            assert not state.prior.trials, "other data: no trial taken by default"
            assert f"skipped 4 trial(s) of {maximising!r}: it ran on other data" in printed, printed


@pytest.fixture(scope="module")
def pareto(folder, store, tiny_bert, ray_session) -> str:
    """Two objectives, MO-ASHA, a constraint on the adapter's size and a trial-epochs budget.

    Seed 8 makes the sampler's first four lora_r values 2, 2, 16, 2 (its random start is seeded and
    Tune asks in order): the two trials that start together are both feasible, and ASHA never stops
    the first trial to reach a rung, so a feasible trial completes whatever the timing. Seed 11 gave
    16, 16, 16, 2, and an empty feasible front in one CI run of two.
    """
    from finesweep.tuning.sweep import run_sweep

    job = _job(folder, tiny_bert, "pareto", store,
               search={"objectives": [{"metric": "val_macro_f1"}, {"metric": "latency_ms_per_text"}],
                       "constraints": [SMALL_ADAPTER], "algorithm": "motpe", "num_samples": 8, "seed": 8,
                       "budget": {"trial_epochs": 9}},
               scheduler={"type": "asha", "grace_period": 1, "max_t": 3, "reduction_factor": 2},
               train={"epochs": 3})  # fmt: skip
    summary = run_sweep(load_job(job), name="pareto")
    assert summary.ended_by == "budget.trial_epochs", summary.ended_by
    return "pareto"


def test_the_front_is_the_brute_force_front_of_the_feasible_completed_trials(pareto, store):
    from finesweep.objective.pareto import dominates

    runs = _trials(store, pareto)
    done = [r for r in runs if r.data.tags[TAG_STATUS] == "completed" and r.data.metrics["model_size_mb"] <= 0.01]
    gains = {r.data.tags[TAG_TRIAL]: (r.data.metrics["val_macro_f1"], -r.data.metrics["latency_ms_per_text"]) for r in done}
    brute = {t for t, g in gains.items() if not any(dominates(o, g) for o in gains.values())}
    parent = _parent(store, pareto)
    assert set(parent.data.tags["finesweep.pareto_front"].split(",")) == brute and brute
    for run in runs:
        if run.data.tags[TAG_STATUS] == "completed":
            assert run.data.tags["finesweep.pareto"] == str(run.data.tags[TAG_TRIAL] in brute).lower()
            feasible = run.data.metrics["model_size_mb"] <= 0.01
            assert run.data.tags["finesweep.feasible"] == str(feasible).lower(), "infeasible trials are marked"
    assert parent.data.metrics["system/pareto_front_size"] == len(brute)


def test_the_budget_ended_the_sweep_at_an_epoch_boundary(pareto, store):
    runs = _trials(store, pareto)
    spent = sum(int(r.data.metrics["system/epoch"]) for r in runs)
    assert 9 <= spent <= 9 + 1, f"{spent} trial-epochs: the budget, plus at most one epoch per other running trial"
    parent = _parent(store, pareto)
    assert parent.data.tags["finesweep.ended_by"] == "budget.trial_epochs"
    assert parent.data.tags["finesweep.status"] == "budget_spent"
    cut = [r for r in runs if r.data.tags.get("finesweep.ended_by_budget") == "1"]
    assert cut and all(r.data.tags[TAG_STATUS] == "completed" and r.data.tags.get("finesweep.model_uri") for r in cut), \
        "a trial the budget ended keeps its checkpoint and model"
    assert len(runs) < 8, "no new trial started once the budget was spent"


def test_mo_asha_stopped_trials_at_its_rungs(pareto, store):
    pruned = [r for r in _trials(store, pareto) if r.data.tags[TAG_STATUS] == "pruned"]
    for run in pruned:
        assert run.data.metrics["system/epoch"] in (1, 2), "stopped at a rung (epochs 1 and 2 below max_t 3)"


def test_promotion_honours_constraints_and_names_its_choice(pareto, store):
    from finesweep.errors import PromotionRefused
    from finesweep.promotion.registry import promote_best_model

    try:
        outcome = promote_best_model(store, pareto, "pareto-model", dry_run=True)
    except PromotionRefused as refused:  # 80 texts may not beat the trivial baseline: the choice is checked here
        assert "does not beat the trivial baseline" in str(refused), refused
        outcome = refused.outcome
    front = _parent(store, pareto).data.tags["finesweep.pareto_front"].split(",")
    trial = outcome.chosen.split(":")[0].removeprefix("trial ")
    assert trial in front and "Pareto-optimal" in outcome.chosen and SMALL_ADAPTER in outcome.chosen, outcome.chosen
    with pytest.raises(PromotionRefused, match="none of the .* completed trials meets"):
        promote_best_model(store, pareto, "pareto-model", dry_run=True, constraints=("model_size_mb <= 0.001",))
    forced = promote_best_model(store, pareto, "pareto-model", dry_run=True, force=True, constraints=("model_size_mb <= 0.001",))
    assert "forced" in forced.chosen


def test_more_adds_trials_to_an_ended_sweep_under_its_parent(pareto, folder, store, tiny_bert, ray_clean, capsys):
    from finesweep.tuning.sweep import SweepOptions, run_sweep

    before = _trials(store, pareto)
    parent = _parent(store, pareto)
    job = folder / "pareto.yaml"
    refused = _cli("sweep", str(job), "--name", pareto, "--more", "2")
    assert refused.returncode == 2 and "--more 2: extends an existing sweep; add --resume" in refused.stderr
    capsys.readouterr()
    run_sweep(load_job(job), name=pareto, options=SweepOptions(resume=True, more=2))  # what --resume --more 2 runs
    printed = capsys.readouterr().out
    assert f"the searcher continues from the sweep's {len(before)} finished trial(s)" in printed, printed
    after = _trials(store, pareto)
    assert len(after) == len(before) + 2, "each run of the command gets the whole budget again (9 epochs >= 2 trials)"
    assert {r.data.tags["mlflow.parentRunId"] for r in after} == {parent.info.run_id}, "one parent run"
    numbers = sorted(int(r.info.run_name.split()[1]) for r in after)
    assert numbers == list(range(1, len(after) + 1)), "trial numbers continue"
    assert _parent(store, pareto).data.tags["finesweep.extensions"] == "1"


def test_a_wall_budget_ends_trials_at_their_next_epoch(folder, store, tiny_bert, ray_clean):
    from finesweep.tuning.sweep import run_sweep

    # an epoch of the tiny model on 80 texts takes about 0.1 s on an idle machine, so 1,000 epochs
    # (the most a job allows) outlast the budget; 100 could finish inside it. 15 s from the sweep's
    # start leaves time to start the first trials only
    job = _job(folder, tiny_bert, "wall", store, search={"num_samples": 6, "budget": {"wall": "15s"}}, train={"epochs": 1000})
    summary = run_sweep(load_job(job), name="wall")
    runs = _trials(store, "wall")
    assert summary.ended_by == "budget.wall"
    assert 1 <= len(runs) <= summary.max_concurrent, "no trial starts once the time is spent"
    for run in runs:
        assert run.data.metrics["system/epoch"] < 1000 and run.data.tags["finesweep.ended_by_budget"] == "1"
        assert run.data.tags[TAG_STATUS] == "completed" and run.data.tags.get("finesweep.model_uri"), "ended with its model"
