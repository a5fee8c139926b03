"""Keep Tune's controller alive when Ray's memory monitor kills a trial actor: that trial fails
(its reason read by :mod:`finesweep.tracking.failure`), the sweep goes on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def oom_kills_fail_their_trial() -> Iterator[None]:
    """While Tune runs: a trial actor that Ray's memory monitor kills fails its trial (retried up
    to ``failure.max_retries`` times from its checkpoint) instead of ending the sweep.

    Why: Ray raises ``ray.exceptions.OutOfMemoryError`` for a task whose worker its memory monitor
    killed (ray-project/ray#28937); that class is neither a ``RayActorError`` nor a ``RayTaskError``,
    the only two that ``RayActorManager._actor_task_failed`` (ray/air/execution/_internal/
    actor_manager.py, Ray 2.60) hands to Tune's failure handling; anything else is re-raised as
    ``RuntimeError("Caught unexpected exception: ...")``, which ends ``Tuner.fit`` (seen when the
    kill hits ``ImplicitFunc.__init__``). Inside this block that handler receives the kill as an
    ``ActorDiedError`` carrying Ray's message, which Tune treats as a dead trial actor. The handler
    is restored on exit, so nothing outside the block changes.
    """
    from ray.air.execution._internal.actor_manager import RayActorManager

    original = RayActorManager._actor_task_failed

    def failed(manager: Any, tracked_actor_task: Any, exception: Exception) -> None:
        return original(manager, tracked_actor_task, as_actor_death(exception))

    RayActorManager._actor_task_failed = failed
    try:
        yield
    finally:
        RayActorManager._actor_task_failed = original


def as_actor_death(exception: Exception) -> Exception:
    """Ray's ``OutOfMemoryError`` as an ``ActorDiedError`` whose text keeps Ray's message (and its
    class name, for :func:`classify`); any other exception unchanged."""
    from ray.exceptions import ActorDiedError, OutOfMemoryError

    if not isinstance(exception, OutOfMemoryError):
        return exception
    death = ActorDiedError()
    death.error_msg = f"ray.exceptions.OutOfMemoryError: {exception}"
    return death
