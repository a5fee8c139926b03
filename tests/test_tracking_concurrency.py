"""Several sweeps writing to one MLflow store at once: a new SQLite file created and migrated by
three processes together, and a real ``mlflow server`` taking three writers' runs; and listings
that follow MLflow's page tokens past one page."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

# One process of a "sweep": its parent run and N trial runs, through finesweep's own tracker.
_WRITER = """
import sys
from finesweep.tracking.runs import SweepTracker
uri, sweep, trials = sys.argv[1], sys.argv[2], int(sys.argv[3])
tracker = SweepTracker(uri, "concurrent", sweep)
tracker.parent.start(tags={}, params={"sweep": sweep})
for n in range(trials):
    tracker.trials.child_run(f"{sweep}-{n}", {"n": n}, {"n": n})
    tracker.trials.log_epoch(f"{sweep}-{n}", {"epoch": 1, "val_macro_f1": n / 10})
    tracker.trials.finish(f"{sweep}-{n}", "completed", result={"final": 1.0})
tracker.parent.finish({"n_trials": trials}, {"finesweep.status": "finished"})
"""


def _three_writers(uri: str, tmp_path: Path, trials: int = 4) -> None:
    script = tmp_path / "writer.py"
    script.write_text(_WRITER, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    writers = [subprocess.Popen([sys.executable, str(script), uri, f"s{i}", str(trials)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(3)]  # fmt: skip
    outputs = [w.communicate(timeout=300)[0] for w in writers]
    assert [w.returncode for w in writers] == [0, 0, 0], "\n---\n".join(o[-2000:] for o in outputs)


def _check_every_run_landed(uri: str, trials: int = 4) -> None:
    from mlflow.tracking import MlflowClient

    from finesweep.tracking.listing import sweep_trials

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("concurrent")
    for i in range(3):
        runs = sweep_trials(client, experiment.experiment_id, f"s{i}")
        assert sorted(r.data.tags["finesweep.trial_id"] for r in runs) == [f"s{i}-{n}" for n in range(trials)]
        assert {r.info.status for r in runs} == {"FINISHED"}


def test_three_sweeps_create_and_share_a_new_sqlite_store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}"
    (tmp_path / "new").mkdir()
    _three_writers(uri, tmp_path)
    _check_every_run_landed(uri)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.heavy
def test_three_sweeps_write_to_one_mlflow_server_at_once(tmp_path):
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}", "--artifacts-destination", str(tmp_path / "art")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        uri = f"http://127.0.0.1:{port}"
        _three_writers(uri, tmp_path, trials=2)
        _check_every_run_landed(uri, trials=2)
    finally:
        os.killpg(server.pid, 15)  # the server's own process group: started above, by pid
        server.wait(timeout=30)


def test_listings_follow_page_tokens_past_one_page(tmp_path, monkeypatch):
    """A sweep of more trials than one page of ``search_runs`` is listed whole (the leaderboard,
    warm starts and the summary read it through the same function)."""
    from finesweep.tracking import listing
    from finesweep.tracking.leaderboard import leaderboard
    from finesweep.tracking.runs import SweepTracker

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = SweepTracker(uri, "paging", "p")
    tracker.parent.start(tags={"finesweep.metric": "val_macro_f1", "finesweep.mode": "max"}, params={})
    for n in range(7):
        tracker.trials.child_run(f"t{n}", {"n": n})
        tracker.trials.log_epoch(f"t{n}", {"epoch": 1, "val_macro_f1": n / 10})
        tracker.trials.finish(f"t{n}", "completed")
    monkeypatch.setattr(listing, "PAGE_SIZE", 3)  # seven runs: three pages
    assert len(tracker.trials.completed_runs()) == 7
    board = leaderboard(uri, "p")
    assert len(board.table) == 7 and board.table.iloc[0]["trial_id"] == "t6"
