"""bench/replay_sim.py, the simulated-time replay behind bench/replay_search.py: finesweep's own
searcher, budget and ASHA, driven through Tune's calls over the committed CARER table."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from replay_sim import SweepSetup, simulate  # noqa: E402

from finesweep.tuning.execution.replay import read_table  # noqa: E402

JOB = REPO / "bench" / "curves" / "replay_carer.yaml"


@pytest.fixture(scope="module")
def table():
    return read_table(REPO / "bench" / "curves" / "carer_minilm.csv")


def _setup(algorithm: str, scheduler: str, concurrency: int, budget: int, seed: int = 1) -> SweepSetup:
    overrides = (f"search.algorithm={algorithm}", f"scheduler.type={scheduler}", f"search.seed={seed}")
    return SweepSetup(JOB, overrides, concurrency, budget)


def test_a_simulated_sweep_keeps_its_concurrency_and_budget_and_asha_stops_trials(table):
    trace = simulate(_setup("tpe", "asha", 8, 120), table, 1)
    assert trace.max_running == 8
    # the budget ends the sweep; running trials finish the epoch they are in (at most 7 more)
    assert 120 <= trace.trial_epochs <= 120 + 7
    assert any(t.status == "pruned" for t in trace.trials) and any(t.epochs == 4 for t in trace.trials)
    curve = trace.best_by_epochs("val_macro_f1", "max", 120)
    assert all(a is None or (b is not None and b >= a) for a, b in zip(curve, curve[1:])), "the best found never falls"
    recorded = {c.config: c.epochs[-1]["val_macro_f1"] for c in table.curves}
    completed = [t for t in trace.trials if t.status == "completed" and t.epochs == 4]
    assert all(t.metrics["val_macro_f1"] == pytest.approx(recorded[t.curve]) for t in completed), "replays the table"


def test_the_same_seed_replays_the_same_sweep_and_another_seed_another(table):
    first, again = (simulate(_setup("random", "none", 4, 40, seed=3), table, 3) for _ in range(2))
    other = simulate(_setup("random", "none", 4, 40, seed=4), table, 4)
    assert [t.curve for t in first.trials] == [t.curve for t in again.trials]
    assert [t.curve for t in first.trials] != [t.curve for t in other.trials]
