"""The outbox keeps MLflow writes in order through an outage and names what it could not write;
trial errors are reduced to the exception they died of."""

from __future__ import annotations

from finesweep.tracking.outbox import Outbox
from finesweep.tracking.headline import error_headline


class FlakyStore:
    """Accepts writes only while ``up``; records what it accepted, in order."""

    def __init__(self):
        self.up = True
        self.written: list[str] = []

    def write(self, item: str):
        def call() -> None:
            if not self.up:
                raise ConnectionError("Connection refused")
            self.written.append(item)

        return call


def test_writes_queue_in_order_during_an_outage_and_land_when_it_ends():
    store, said = FlakyStore(), []
    outbox = Outbox("http://127.0.0.1:1", retry_every_s=0.0, say=said.append)
    outbox.write("a", store.write("a"))
    store.up = False
    outbox.write("b", store.write("b"))
    outbox.write("c", store.write("c"))
    assert store.written == ["a"] and [p.what for p in outbox.pending] == ["b", "c"]
    assert "ConnectionError: Connection refused" in outbox.gap() and outbox.gap().startswith("2 MLflow writes")
    store.up = True
    outbox.write("d", store.write("d"))
    assert store.written == ["a", "b", "c", "d"] and not outbox.pending and outbox.gap() == ""
    assert outbox.outages == 1 and any("failed" in line for line in said) and any("again" in line for line in said)


def test_drain_gives_up_after_its_timeout_and_keeps_the_gap():
    store = FlakyStore()
    store.up = False
    outbox = Outbox("x", retry_every_s=0.05, say=lambda _: None)
    outbox.write("trial t1 metrics", store.write("m"))
    assert outbox.drain(timeout_s=0.2) is False
    assert "trial t1 metrics" in outbox.gap()


def test_error_headline_keeps_the_cause_ray_puts_on_the_next_line():
    text = (
        "Failure # 1 (occurred at 2026-11-23_09-13-34)\n"
        "\x1b[36mray::ImplicitFunc.train()\x1b[39m (pid=1, ip=1.2.3.4)\n"
        '  File "trainable.py", line 21, in run_trial\n'
        "    raise result.error\n"
        "ray.train.ControllerError: Training failed due to controller error:\n"
        "[Errno 28] Error writing bytes to file. Detail: [errno 28] No space left on device\n"
    )
    assert error_headline(text) == (
        "ray.train.ControllerError: Training failed due to controller error: "
        "[Errno 28] Error writing bytes to file. Detail: [errno 28] No space left on device"
    )
    assert error_headline("just one line") == "just one line"


def test_a_background_outbox_keeps_order_and_drain_waits_for_the_writer_thread():
    import time

    store, said = FlakyStore(), []
    outbox = Outbox("http://127.0.0.1:1", retry_every_s=0.0, say=said.append, background=True)

    def slow(item: str):
        def call() -> None:
            time.sleep(0.05)  # a model being logged: the caller must not wait for it
            store.write(item)()

        return call

    started = time.monotonic()
    for item in "abcde":
        outbox.write(item, slow(item))
    assert time.monotonic() - started < 0.2, "write() hands over and returns"
    assert outbox.drain(5.0)
    assert store.written == list("abcde"), "one writer, in order"


def test_a_write_that_fails_for_a_bug_stops_the_sweep_instead_of_waiting_for_a_server():
    import pytest

    from finesweep.tracking.outbox import TrackingBug

    said, written = [], []
    outbox = Outbox("x", retry_every_s=0.0, say=said.append)

    def broken() -> None:
        raise ValueError("Param value 'x' had length 7000, which exceeded length limit of 6000")

    outbox.write("trial t1 run", broken)
    assert outbox.failure == ("MLflow write 'trial t1 run' failed: ValueError: Param value 'x' had length 7000, "
                              "which exceeded length limit of 6000")  # fmt: skip
    assert outbox.outages == 0 and any("not an outage" in line for line in said)
    with pytest.raises(TrackingBug, match="trial t1 run"):
        outbox.write("trial t1 metrics", lambda: written.append("m"))
    assert written == [] and outbox.drain(timeout_s=300) is False, "no five-minute wait for a bug"


def test_outages_are_told_from_bugs():
    from mlflow.exceptions import MlflowException

    from finesweep.tracking.outbox import is_outage

    assert is_outage(ConnectionError("Connection refused")) and is_outage(TimeoutError("read timed out"))
    assert is_outage(MlflowException("API request to http://127.0.0.1:5000/api/2.0/mlflow/runs/create failed with "
                                      "exception HTTPConnectionPool: Max retries exceeded"))  # fmt: skip
    assert is_outage(MlflowException("Service Unavailable", error_code="TEMPORARILY_UNAVAILABLE"))
    assert not is_outage(MlflowException("bad value", error_code="INVALID_PARAMETER_VALUE")), "a 400 is a bug"
    assert not is_outage(KeyError("trial")) and not is_outage(TypeError("unsupported operand"))


def _callback_on_a_new_store(tmp_path, sweep: str):
    """A real SQLite store with a sweep's parent run, its tracker, outbox and Tune callback."""
    from finesweep.tracking.callback import MlflowSweepCallback
    from finesweep.tracking.runs import SweepTracker

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = SweepTracker(store, sweep, "R")
    tracker.parent.start(tags={}, params={})
    outbox = Outbox(sweep, retry_every_s=0.1, say=lambda _: None)
    return store, tracker, outbox, MlflowSweepCallback(tracker, {"task": "x"}, {}, outbox)


def test_a_trial_tune_restored_as_ended_but_mlflow_never_got_is_recorded_on_resume(tmp_path):
    """The driver died after Tune saved a trial as TERMINATED but before its queued MLflow writes
    ran: on --resume the callback records that trial from Tune's saved state (metrics, final status)
    and leaves a trial that MLflow already has untouched."""
    from mlflow.tracking import MlflowClient
    from ray.tune.experiment import Trial

    store, tracker, outbox, callback = _callback_on_a_new_store(tmp_path, "resume")

    recorded, lost, running = (Trial("fn", config={"lr": lr}, trial_id=tid, stub=True)
                               for lr, tid in ((1e-3, "aaaa0001"), (2e-3, "aaaa0002"), (3e-3, "aaaa0003")))  # fmt: skip
    tracker.trials.child_run(recorded.trial_id, {"lr": 1e-3}, {"lr": 1e-3})
    tracker.trials.finish(recorded.trial_id, "completed", result={"final": 1.0})
    for trial, status in ((recorded, Trial.TERMINATED), (lost, Trial.TERMINATED), (running, Trial.PENDING)):
        trial.set_status(status)
    lost.run_metadata.last_result = {"epoch": 2, "final": 1.0, "val_loss": 0.25}

    callback.on_step_begin(0, [recorded, lost, running])
    callback.on_step_begin(1, [recorded, lost, running])  # once per driver
    assert outbox.drain(10)
    runs = MlflowClient(store).search_runs([tracker.parent.experiment_id], "tags.`finesweep.role` = 'trial'")
    by_trial = {r.data.tags["finesweep.trial_id"]: r for r in runs}
    assert set(by_trial) == {"aaaa0001", "aaaa0002"}, "the pending trial is left to Tune"
    restored = by_trial["aaaa0002"]
    assert restored.data.tags["finesweep.status"] == "completed" and restored.info.status == "FINISHED"
    assert restored.data.metrics["val_loss"] == 0.25 and restored.data.params["lr"] == "0.002"


def test_a_trial_tune_errored_without_a_callback_is_recorded_as_failed_at_the_end(tmp_path):
    """When Tune cannot reuse an actor it errors the next trial without calling on_trial_error: at
    the experiment's end the callback records it as failed, and leaves a failure already recorded
    (through on_trial_error) as it is."""
    from mlflow.tracking import MlflowClient
    from ray.tune.experiment import Trial

    store, tracker, outbox, callback = _callback_on_a_new_store(tmp_path, "reuse")
    reported, silent, done = (Trial("fn", config={"lr": lr}, trial_id=tid, stub=True)
                              for lr, tid in ((1e-3, "bbbb0001"), (2e-3, "bbbb0002"), (3e-3, "bbbb0003")))  # fmt: skip
    for trial, status in ((reported, Trial.ERROR), (silent, Trial.ERROR), (done, Trial.TERMINATED)):
        trial.set_status(status)
    callback.on_trial_error(0, [reported], reported)
    assert outbox.drain(10)
    callback.on_experiment_end([reported, silent, done])
    assert outbox.drain(10)
    runs = MlflowClient(store).search_runs([tracker.parent.experiment_id], "tags.`finesweep.role` = 'trial'")
    by_trial = {r.data.tags["finesweep.trial_id"]: r for r in runs}
    assert set(by_trial) == {"bbbb0001", "bbbb0002"}, "only errored trials are recorded at the end"
    assert all(r.data.tags["finesweep.status"] == "failed" and r.info.status == "FAILED" for r in by_trial.values())
    assert len([r for r in runs if r.data.tags["finesweep.trial_id"] == "bbbb0001"]) == 1, "no second run"
