"""The training loop every Ray Train worker runs, shared by all tasks.

A task supplies a runtime (model, training dataset, collate function, loss, evaluation and final
artifacts); this module owns everything around it: device placement, data-parallel sampling,
optimizer and schedule, gradient accumulation, mixed precision, early stopping, timings, and one
``ray.train.report`` per epoch carrying an explicit ``epoch`` for ASHA.
"""

from __future__ import annotations

import math
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Protocol

import torch
from torch.utils.data import DataLoader, Dataset

from finesweep.training import FINAL_KEY
from finesweep.training.batching import GlobalBatches
from finesweep.training.optim import build_optimizer, build_scheduler
from finesweep.training.seeding import seed_everything



class TaskRuntime(Protocol):
    """What a task provides inside a worker."""

    model: torch.nn.Module

    def train_dataset(self) -> Dataset: ...

    def collate(self, items: list[Any]) -> dict[str, torch.Tensor]: ...

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor: ...

    def evaluate(self, model: torch.nn.Module, split: str, prefix: str) -> dict[str, float]: ...

    def write_final_artifacts(self, model: torch.nn.Module, out_dir: Path, metrics: dict[str, float]) -> None: ...


def is_distributed() -> bool:
    """True inside a multi-worker process group."""
    return torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1


def mean_across_workers(value: float) -> float:
    """Average a float over all workers (identity with one worker)."""
    if not is_distributed():
        return value
    tensor = torch.tensor([value], dtype=torch.float64)
    if torch.distributed.get_backend() == "nccl":
        tensor = tensor.cuda()
    torch.distributed.all_reduce(tensor)
    return float(tensor.item()) / torch.distributed.get_world_size()


def gather_lists(values: list[Any]) -> list[Any]:
    """Concatenate a per-worker list over all workers, in rank order."""
    if not is_distributed():
        return values
    gathered: list[list[Any]] = [[] for _ in range(torch.distributed.get_world_size())]
    torch.distributed.all_gather_object(gathered, values)
    return [item for part in gathered for item in part]


def shard_indices(length: int) -> list[int]:
    """The indices of an evaluation set this worker handles (all of them with one worker)."""
    if not is_distributed():
        return list(range(length))
    return list(range(torch.distributed.get_rank(), length, torch.distributed.get_world_size()))


def _autocast(device: torch.device, precision: str):
    if precision == "no" or (precision == "fp16" and device.type != "cuda"):
        return nullcontext()
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype)


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory of this worker in MiB: CUDA allocations on a GPU, else the process's max RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _threads(config: dict[str, Any]) -> int:
    return max(1, int(round(config.get("cpus_per_worker", 1.0))))


def _loader(runtime: TaskRuntime, params: Any, world: int, rank: int) -> tuple[DataLoader, GlobalBatches]:
    """This worker's batches: its share of each seeded global batch of ``batch_size`` examples
    (grouped by length unless ``group_by_length`` is off), so any number of workers trains on the
    same global batches and averaged gradients match a single worker's (data parallelism)."""
    dataset = runtime.train_dataset()
    lengths = [len(item["input_ids"]) if isinstance(item, dict) and "input_ids" in item else 0 for item in dataset]
    sampler = GlobalBatches(lengths, params.batch_size, params.seed, world, rank, params.group_by_length)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=runtime.collate), sampler


def _improved(value: float, best: float | None, mode: str) -> bool:
    return best is None or (value > best if mode == "max" else value < best)


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") else model


def _resume(model, optimizer, scheduler, scaler) -> dict[str, Any]:
    """Progress of this trial: fresh, or restored from the latest checkpoint after a worker failure."""
    import ray.train

    from finesweep.training.checkpoint import load_training_state

    progress: dict[str, Any] = {"epoch": 0, "best": None, "stale_epochs": 0, "train_seconds": 0.0,
                                "first_step_s": None, "restarts": 0}  # fmt: skip
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return progress
    with checkpoint.as_directory() as folder:
        progress = load_training_state(Path(folder), _unwrap(model), optimizer, scheduler, scaler)
    progress["restarts"] = progress.get("restarts", 0) + 1
    print(f"finesweep: resumed from the epoch-{progress['epoch']} checkpoint (restart {progress['restarts']})")
    return progress


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Entry point of every Ray Train worker; ``config`` is built by ``tuning.trainable``."""
    import ray
    import ray.train
    import ray.train.torch

    from finesweep.tasks import get_task

    started = float(config["trial_started_at"])  # wall clock (s) when the Tune trial (re)started
    entered = time.time()  # the worker process is up and has imported torch and this module
    torch.set_num_threads(_threads(config))
    task = get_task(config["task"])
    params = task.params_model.model_validate(config["params"])
    seed_everything(params.seed)
    device = ray.train.torch.get_device()
    data = ray.get(config["data_ref"])
    fetched = time.time()
    runtime = task.build_runtime(params, data, config, device)
    startup = {"startup_worker_s": entered - started, "startup_data_s": fetched - entered}  # seconds
    startup.update({f"startup_{k}": v for k, v in getattr(runtime, "timings", {}).items()})
    model = ray.train.torch.prepare_model(runtime.model)
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    loader, sampler = _loader(runtime, params, world, rank)
    optimizer = build_optimizer(params, model)
    steps_per_epoch = math.ceil(len(loader) / params.grad_accum_steps)
    scheduler = build_scheduler(params, optimizer, steps_per_epoch * params.epochs)
    scaler = torch.amp.GradScaler("cuda") if params.mixed_precision == "fp16" and device.type == "cuda" else None
    progress = _resume(model, optimizer, scheduler, scaler)
    if progress.get("final_metrics") is not None:
        _report_again(progress["final_metrics"], rank)
        return
    metric, mode = config["metric"], config["mode"]
    for epoch in range(progress["epoch"] + 1, params.epochs + 1):
        sampler.set_epoch(epoch)  # the same permutation per epoch whether or not the trial restarted
        model.train()
        epoch_start = time.time()
        losses: list[float] = []
        optimizer.zero_grad(set_to_none=True)
        for step, batch in enumerate(loader, start=1):
            if progress["first_step_s"] is None:
                progress["first_step_s"] = time.time() - started
            batch = {key: value.to(device) for key, value in batch.items()}
            with _autocast(device, params.mixed_precision):
                loss = runtime.loss(model, batch)
            losses.append(float(loss.detach()))
            scaled = loss / params.grad_accum_steps
            (scaler.scale(scaled) if scaler else scaled).backward()
            if step % params.grad_accum_steps == 0 or step == len(loader):
                if scaler:
                    scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), params.max_grad_norm)
                if scaler:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
        progress["train_seconds"] += time.time() - epoch_start
        eval_start = time.time()
        metrics: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": mean_across_workers(sum(losses) / max(len(losses), 1)),
            "learning_rate": scheduler.get_last_lr()[0],
        }
        metrics.update(runtime.evaluate(model, "validation", "val_"))
        value = metrics[metric]
        if _improved(value, progress["best"], mode):
            progress["best"], progress["stale_epochs"] = value, 0
        else:
            progress["stale_epochs"] += 1
        stop_early = params.early_stopping_patience > 0 and progress["stale_epochs"] >= params.early_stopping_patience
        final = epoch == params.epochs or stop_early
        progress["epoch"] = epoch
        metrics["eval_time_s"] = time.time() - eval_start
        metrics["time_to_first_step_s"] = progress["first_step_s"] or 0.0
        metrics.update(startup)
        metrics["peak_memory_mb"] = peak_memory_mb(device)
        metrics["train_time_s"] = progress["train_seconds"]
        metrics["restarts"] = progress["restarts"]
        metrics["stopped_early"] = float(stop_early)
        metrics[FINAL_KEY] = float(final)
        _report(runtime, model, optimizer, scheduler, scaler, metrics, progress, final, rank)
        if stop_early:
            break


def _report(runtime, model, optimizer, scheduler, scaler, metrics, progress, final: bool, rank: int) -> None:
    """Report one epoch with a checkpoint; at the end add test-split figures and the final model."""
    import ray.train

    from finesweep.training.checkpoint import save_training_state, write_manifest

    if final:
        metrics.update(runtime.evaluate(model, "test", "test_"))
        progress["final_metrics"] = metrics  # a trial restored from this checkpoint is already done
    with tempfile.TemporaryDirectory(prefix="finesweep-ckpt-") as tmp:
        checkpoint = None
        if rank == 0:  # only rank 0 writes; DDP keeps every replica's weights identical
            save_training_state(Path(tmp), _unwrap(model), optimizer, scheduler, scaler, progress)
            if final:
                runtime.write_final_artifacts(_unwrap(model), Path(tmp), metrics)
            write_manifest(Path(tmp))
            checkpoint = ray.train.Checkpoint.from_directory(tmp)
        ray.train.report(metrics, checkpoint=checkpoint)


def _report_again(metrics: dict[str, Any], rank: int) -> None:
    """Re-report a finished trial's final result and checkpoint.

    The driver can die after a trial's final checkpoint was saved but before Tune recorded the
    trial as done; on ``--resume`` Tune restarts it from that checkpoint, and it must end with the
    same final result instead of training further (or reporting nothing, which Tune rejects).
    """
    import shutil

    import ray.train

    print(f"finesweep: the trial had already finished (epoch {metrics.get('epoch')}); reporting its final result again")
    with tempfile.TemporaryDirectory(prefix="finesweep-ckpt-") as tmp:
        checkpoint = None
        if rank == 0:
            with ray.train.get_checkpoint().as_directory() as folder:
                shutil.copytree(folder, tmp, dirs_exist_ok=True)
            checkpoint = ray.train.Checkpoint.from_directory(tmp)
        ray.train.report(metrics, checkpoint=checkpoint)
