"""The outbox keeps MLflow writes in order through an outage and names what it could not write;
trial errors are reduced to the exception they died of."""

from __future__ import annotations

from finesweep.tracking.outbox import Outbox
from finesweep.tracking.runs import error_headline


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
