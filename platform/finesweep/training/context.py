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


@contextlib.contextmanager
def _as_folder(checkpoint: Any) -> Iterator[Path | None]:
    """A Ray checkpoint as a local folder for the block (None when there is no checkpoint)."""
    if checkpoint is None:
        yield None
        return
    with checkpoint.as_directory() as folder:
        yield Path(folder)


def _checkpoint(checkpoint_class: Any, folder: Path | None) -> Any:
    """A Ray checkpoint of ``folder`` (None on ranks that write none)."""
    return checkpoint_class.from_directory(str(folder)) if folder else None


def first_device(use_gpu: bool) -> Any:
    """``cuda:0`` when the trial asked for a GPU, else the CPU. A trial that asked for a GPU where
    CUDA is absent (a GPU declared to Ray on a machine without one, a CPU build of torch) fails
    with one line instead of training on the CPU unnoticed."""
    import torch

    if not use_gpu:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise RuntimeError(
            f"scaling.gpus_per_worker > 0, but CUDA is not available in this trial's process (torch {torch.__version__}, "
            f"GPU ids Ray gave it: {_ray_gpu_ids()}); install torch's CUDA build on the GPU nodes or set gpus_per_worker: 0"
        )
    return torch.device("cuda:0")


def _ray_gpu_ids() -> str:
    """The GPUs Ray assigned to this process (it sets CUDA_VISIBLE_DEVICES from them), e.g. ``0``;
    ``none`` when it assigned none or this process is no Ray worker (``finesweep train``)."""
    import ray

    if not ray.is_initialized():
        return "none"
    return ",".join(str(gpu) for gpu in ray.get_gpu_ids()) or "none"


class LocalContext:
    """One trial in this process, without Ray (``finesweep train``): each report goes to
    ``on_report(metrics, checkpoint folder)``; there is no earlier checkpoint to resume from."""

    rank = 0
    world_size = 1

    def __init__(self, on_report: Any) -> None:
        self.on_report = on_report

    def device(self, use_gpu: bool) -> Any:
        return first_device(use_gpu)

    def prepare_model(self, model: Any, device: Any) -> Any:
        return model.to(device)

    def latest_checkpoint(self) -> contextlib.AbstractContextManager[Path | None]:
        return contextlib.nullcontext(None)

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        self.on_report(metrics, checkpoint_dir)


class TuneTrialContext:
    """A single-worker trial inside its Tune trial actor (``tune.report``, ``tune.get_checkpoint``).

    Tune gives the actor the trial's CPUs and GPUs (``CUDA_VISIBLE_DEVICES``), so the device is
    simply the first visible GPU, if the trial asked for one.
    """

    rank = 0
    world_size = 1

    def device(self, use_gpu: bool) -> Any:
        return first_device(use_gpu)

    def prepare_model(self, model: Any, device: Any) -> Any:
        return model.to(device)

    def latest_checkpoint(self) -> contextlib.AbstractContextManager[Path | None]:
        import ray.tune

        return _as_folder(ray.tune.get_checkpoint())

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        import ray.tune

        ray.tune.report(metrics, checkpoint=_checkpoint(ray.tune.Checkpoint, checkpoint_dir))


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

    def latest_checkpoint(self) -> contextlib.AbstractContextManager[Path | None]:
        import ray.train

        return _as_folder(ray.train.get_checkpoint())

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        import ray.train

        ray.train.report(metrics, checkpoint=_checkpoint(ray.train.Checkpoint, checkpoint_dir))
