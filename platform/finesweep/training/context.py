"""Where a trial runs: the small interface the training loop needs from its execution path.

The loop asks its context for its rank and world size, the device, a prepared model, the latest
checkpoint to resume from, and to report one epoch (metrics plus a checkpoint folder). Two
implementations: :class:`TuneTrialContext` for a single-worker trial training inside its (reused)
Tune trial actor, and :class:`TrainWorkerContext` for a Ray Train worker of a ``TorchTrainer``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator, Protocol


class TrialContext(Protocol):
    """What the loop needs from the process it runs in."""

    rank: int
    world_size: int

    def device(self, use_gpu: bool) -> Any: ...

    def prepare_model(self, model: Any, device: Any) -> Any: ...

    def latest_checkpoint(self) -> contextlib.AbstractContextManager[Path | None]: ...

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None: ...


class TuneTrialContext:
    """A single-worker trial inside its Tune trial actor (``tune.report``, ``tune.get_checkpoint``).

    Tune gives the actor the trial's CPUs and GPUs (``CUDA_VISIBLE_DEVICES``), so the device is
    simply the first visible GPU, if the trial asked for one.
    """

    rank = 0
    world_size = 1

    def device(self, use_gpu: bool) -> Any:
        import torch

        return torch.device("cuda:0") if use_gpu and torch.cuda.is_available() else torch.device("cpu")

    def prepare_model(self, model: Any, device: Any) -> Any:
        return model.to(device)

    @contextlib.contextmanager
    def latest_checkpoint(self) -> Iterator[Path | None]:
        import ray.tune

        checkpoint = ray.tune.get_checkpoint()
        if checkpoint is None:
            yield None
            return
        with checkpoint.as_directory() as folder:
            yield Path(folder)

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        import ray.tune

        checkpoint = ray.tune.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
        ray.tune.report(metrics, checkpoint=checkpoint)


class TrainWorkerContext:
    """One worker of a Ray Train ``TorchTrainer`` (``ray.train.report``, DDP through ``prepare_model``)."""

    def __init__(self) -> None:
        import ray.train

        context = ray.train.get_context()
        self.rank, self.world_size = context.get_world_rank(), context.get_world_size()

    def device(self, use_gpu: bool) -> Any:
        import ray.train.torch

        return ray.train.torch.get_device()

    def prepare_model(self, model: Any, device: Any) -> Any:
        import ray.train.torch

        return ray.train.torch.prepare_model(model)  # moves it to the worker's device, wraps it in DDP

    @contextlib.contextmanager
    def latest_checkpoint(self) -> Iterator[Path | None]:
        import ray.train

        checkpoint = ray.train.get_checkpoint()
        if checkpoint is None:
            yield None
            return
        with checkpoint.as_directory() as folder:
            yield Path(folder)

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        import ray.train

        checkpoint = ray.train.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
        ray.train.report(metrics, checkpoint=checkpoint)
