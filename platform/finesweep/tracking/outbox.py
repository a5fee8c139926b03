"""MLflow writes that survive a tracking server going away mid-sweep.

Training must not stop because the tracking server restarts. The sweep driver's writes go through
an :class:`Outbox`: a write that fails is queued with every later one (order matters: a trial's
run must exist before its metrics), the queue is retried on later writes at most every
``retry_every_s`` seconds so a dead server does not stall Tune's event loop, and the sweep drains
it at the end. Whatever still cannot be written is reported by name, never dropped silently.

With ``background=True`` the writes run, in order, on one writer thread of the driver: Tune's
event loop hands a trial's final status and model to MLflow and goes on scheduling the next trial
(logging a model takes seconds), while MLflow still sees one writer at a time. A trial is marked
completed only by the write that follows its model, so the order that matters is kept.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class PendingWrite:
    """One queued write: what it records (for the report) and the call that records it."""

    what: str
    write: Callable[[], object]


class Outbox:
    """Ordered, retried MLflow writes with a report of the gap when the server never returns."""

    def __init__(
        self, target: str, retry_every_s: float = 5.0, say: Callable[[str], None] = print, background: bool = False
    ):
        self.target = target
        self.retry_every_s = retry_every_s
        self.say = say
        self.pending: list[PendingWrite] = []
        self.last_error: str | None = None
        self.outages = 0
        self.failure: str | None = None  # a write that failed for a reason other than an outage
        self._next_try = 0.0
        self._queue: queue.Queue[PendingWrite] | None = queue.Queue() if background else None
        if self._queue is not None:
            threading.Thread(target=self._work, args=(self._queue,), name=f"mlflow-writer {target}", daemon=True).start()

    def __reduce__(self):
        # Tune pickles callbacks into its experiment state; queued closures do not travel, and a
        # restored callback must share the one outbox the sweep drains at the end.
        return (outbox_for, (self.target,))

    def write(self, what: str, call: Callable[[], object]) -> None:
        """Run ``call`` now (or hand it to the writer thread), or queue it behind earlier failed writes.
        Raises :class:`TrackingBug` once a write has failed for a reason other than an outage."""
        if self.failure is not None:
            raise TrackingBug(self.failure)
        if self._queue is not None:
            self._queue.put(PendingWrite(what, call))
            return
        self._write_now(what, call)

    def wait_idle(self) -> None:
        """Block until the writer thread has handled every write handed to it (no-op without one)."""
        if self._queue is not None:
            self._queue.join()

    def _work(self, writes: "queue.Queue[PendingWrite]") -> None:
        while True:
            item = writes.get()
            try:
                self._write_now(item.what, item.write)
            except BaseException as exc:  # noqa: BLE001 - never let the writer thread die silently
                self.say(f"warning: MLflow writer: {type(exc).__name__}: {exc}")
            finally:
                writes.task_done()

    def _write_now(self, what: str, call: Callable[[], object]) -> None:
        if self.pending:
            self.flush()
        if self.pending:
            self.pending.append(PendingWrite(what, call))
            return
        if not self._attempt(PendingWrite(what, call)):
            self.pending.append(PendingWrite(what, call))

    def flush(self, force: bool = False) -> bool:
        """Retry queued writes in order (at most every ``retry_every_s`` unless ``force``); True when empty."""
        if not self.pending:
            return True
        if not force and time.monotonic() < self._next_try:
            return False
        while self.pending:
            if not self._attempt(self.pending[0]):
                return False
            self.pending.pop(0)
        self.say(f"MLflow at {self.target} accepts writes again; queued writes recorded")
        return True

    def drain(self, timeout_s: float) -> bool:
        """Keep retrying until the queue is empty or ``timeout_s`` seconds passed; True when empty."""
        self.wait_idle()  # writes still with the writer thread come first
        if self.failure is not None:
            return False  # a bug, not an outage: waiting would change nothing
        deadline = time.monotonic() + timeout_s
        if self.pending:
            self.say(f"waiting up to {timeout_s:.0f} s for MLflow at {self.target} to record {len(self.pending)} queued writes")
        while not self.flush(force=True):
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(self.retry_every_s, max(0.0, deadline - time.monotonic())))
        return True

    def gap(self) -> str:
        """What was not recorded, in one line (empty when nothing is pending)."""
        if not self.pending:
            return ""
        names = sorted({item.what for item in self.pending})
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        return f"{len(self.pending)} MLflow writes not recorded ({shown}); last error: {self.last_error}"

    def _attempt(self, item: PendingWrite) -> bool:
        if self.failure is not None:
            return False
        try:
            item.write()
        except Exception as exc:  # noqa: BLE001 - classified: an outage is retried, a bug stops the sweep
            self.last_error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:300]
            if not is_outage(exc):
                self.failure = f"MLflow write '{item.what}' failed: {self.last_error}"
                self.say(f"error: {self.failure}; this is not an outage (no retry), the sweep stops")
                return False
            self._next_try = time.monotonic() + self.retry_every_s
            if not self.pending:
                self.outages += 1
                self.say(
                    f"warning: MLflow write to {self.target} failed ({self.last_error}); training goes on, "
                    "writes are queued and retried"
                )
            return False
        return True


class TrackingBug(RuntimeError):
    """A write MLflow refused for a reason a retry cannot fix (an internal failure: exit 1)."""


_OUTAGE_NAMES = ("ConnectionError", "Timeout", "ConnectTimeout", "ReadTimeout", "MaxRetryError", "ProtocolError",
                 "RemoteDisconnected", "ChunkedEncodingError", "OperationalError")  # fmt: skip
_OUTAGE_TEXT = ("API request to", "Max retries exceeded", "Connection refused", "timed out", "database is locked",
                "Temporary failure", "Name or service not known", "Service Unavailable", "Bad Gateway")  # fmt: skip


def is_outage(exc: BaseException) -> bool:
    """True for a failure a later retry may fix: the server or its database unreachable, a timeout,
    a 5xx answer, a locked SQLite file. A 4xx answer or any other exception is a bug."""
    status = getattr(exc, "get_http_status_code", lambda: None)()
    if isinstance(status, int) and status != 500:  # MLflow maps unknown errors to 500 too: read on below
        return status >= 500
    chain: BaseException | None = exc
    while chain is not None:
        if isinstance(chain, (ConnectionError, TimeoutError)) or type(chain).__name__ in _OUTAGE_NAMES:
            return True
        if any(text in str(chain) for text in _OUTAGE_TEXT):
            return True
        chain = chain.__cause__ or chain.__context__
    return False


_OUTBOXES: dict[str, Outbox] = {}


def outbox_for(
    target: str, retry_every_s: float = 5.0, say: Callable[[str], None] = print, background: bool = False
) -> Outbox:
    """The process's one outbox for ``target`` (a sweep's tracking URI and name)."""
    if target not in _OUTBOXES:
        _OUTBOXES[target] = Outbox(target, retry_every_s, say, background)
    return _OUTBOXES[target]
