"""The training loop every trial runs, shared by all tasks and both execution paths.

A task supplies a runtime (model, training dataset, collate function, loss, evaluation and final
artifacts); this module owns everything around it: device placement, data-parallel sampling,
optimizer and schedule, gradient accumulation, mixed precision, early stopping, timings, and one
report per epoch carrying an explicit ``epoch`` for ASHA, through a :class:`TrialContext`.
"""

from __future__ import annotations

import math
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch.utils.data import DataLoader, Dataset

from finesweep.training import FINAL_KEY
from finesweep.training.batching import GlobalBatches
from finesweep.training.context import TrialContext
from finesweep.training.memory import first_line, is_out_of_memory, phase, split_rows
from finesweep.training.precision import autocast_dtype, resolve_precision
from finesweep.training.optim import build_optimizer, build_scheduler
from finesweep.training.seeding import seed_everything
from finesweep.training.spec import TrialSpec
from finesweep.settings import using



class TaskRuntime(Protocol):
    """What a task provides inside a worker."""

    model: torch.nn.Module

    def train_dataset(self) -> Dataset: ...

    def collate(self, items: list[Any]) -> dict[str, torch.Tensor]: ...

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor: ...

    def evaluate(self, model: torch.nn.Module, split: str, prefix: str) -> dict[str, float]: ...

    def write_final_artifacts(self, model: torch.nn.Module, out_dir: Path, metrics: dict[str, float]) -> None: ...


class RuntimeFactory(Protocol):
    """A task, as the loop sees it: its hyperparameter model and its runtime builder. The caller
    resolves it from the task registry."""

    params_model: Any  # the task's pydantic hyperparameter model

    def build_runtime(self, params: Any, data: Any, spec: TrialSpec, device: torch.device) -> TaskRuntime: ...


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
    """Autocast for a resolved precision (training/precision.py), or nothing for float32."""
    dtype = autocast_dtype(precision)
    return nullcontext() if dtype is None else torch.autocast(device_type=device.type, dtype=dtype)


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory of this worker in MiB: CUDA allocations on a GPU, else the process's max RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def resident_memory_mb() -> float:
    """This process's resident memory right now, in MiB (0 where /proc is unavailable): in a reused
    process it shows whether memory stays flat from trial to trial (peak memory only grows)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def trained_size(model: torch.nn.Module) -> dict[str, float]:
    """What the trial trains on top of its base model: ``trainable_params`` and their size in MiB
    (``model_size_mb``): the LoRA adapter and head, or every weight under full fine-tuning."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    count = sum(p.numel() for p in trainable)
    size = sum(p.numel() * p.element_size() for p in trainable)  # bytes, at the dtype it trains in
    return {"trainable_params": float(count), "model_size_mb": size / 2**20}


def _loader(runtime: TaskRuntime, params: Any, world: int, rank: int) -> tuple[DataLoader, GlobalBatches]:
    """This worker's batches: its share of each seeded global batch of ``batch_size`` examples
    (grouped by length unless ``group_by_length`` is off), so any number of workers trains on the
    same global batches and averaged gradients match a single worker's (data parallelism)."""
    dataset = runtime.train_dataset()
    lengths = [len(item["input_ids"]) if isinstance(item, dict) and "input_ids" in item else 0 for item in dataset]
    sampler = GlobalBatches(lengths, params.batch_size, params.seed, world, rank, params.group_by_length)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=runtime.collate), sampler


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") else model


@dataclass
class _Trial:
    """One trial's live state inside the loop."""

    spec: TrialSpec
    params: Any
    ctx: TrialContext
    runtime: TaskRuntime
    model: torch.nn.Module
    device: torch.device
    loader: DataLoader
    sampler: GlobalBatches
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    startup: dict[str, float]
    started: float  # wall clock (s) when the trial (re)started
    precision: str  # what the training forward pass runs in: "no" (float32), "bf16" or "fp16"
    pieces: int = 1  # each training batch runs forward and backward in this many pieces (2+ after out of memory)


# Splits fetched from the object store, kept by a reused trial process for the next trial of the
# same sweep (one entry: a process serves one sweep at a time).
_DATA: dict[str, Any] = {}
_TRIALS_RUN = [0]  # trials this process has started: 1 in a fresh process, 2+ in a reused one


def _fetch_data(spec: TrialSpec) -> Any:
    """The sweep's prepared splits: from this process's cache, else from Ray's object store (or the
    splits themselves, when the trial runs without Ray)."""
    if spec.data_key not in _DATA:
        data = spec.data_ref
        if type(data).__module__.startswith("ray"):  # an ObjectRef; Ray is imported only then
            import ray

            data = ray.get(data)
        _DATA.clear()
        _DATA[spec.data_key] = data
    return _DATA[spec.data_key]


def run_trial_loop(spec: TrialSpec, sampled: dict[str, Any], build_runtime: RuntimeFactory,
                   ctx: TrialContext, started: float) -> None:  # fmt: skip
    """Train one trial to its end (or early stop), reporting every epoch through ``ctx``.

    The same loop runs in a Tune trial actor (single worker) and in each Ray Train worker; the
    task's runtime factory is resolved by the caller, so this module never imports ``tasks/``.
    The trial runs under the driver's settings (``spec.settings``), not this process's environment.
    """
    with using(spec.settings):
        _run_trial_loop(spec, sampled, build_runtime, ctx, started)


def _run_trial_loop(spec: TrialSpec, sampled: dict[str, Any], build_runtime: RuntimeFactory,
                    ctx: TrialContext, started: float) -> None:  # fmt: skip
    """:func:`run_trial_loop` under its settings."""
    trial = _setup(spec, sampled, build_runtime, ctx, started)
    try:
        progress = _resume(trial)
        if progress.get("final_metrics") is not None:
            _report_again(trial, progress["final_metrics"])
            return
        for epoch in range(progress["epoch"] + 1, trial.params.epochs + 1):
            with phase(f"training epoch {epoch}"):
                losses = _train_epoch(trial, epoch, progress)
            with phase(f"evaluating epoch {epoch}"):
                metrics, stop_early = _validate(trial, epoch, losses, progress)
            out_of_budget = _budget_spent(trial)
            metrics["ended_by_budget"] = float(out_of_budget)
            _report(trial, metrics, progress, final=epoch == trial.params.epochs or stop_early or out_of_budget)
            if stop_early or out_of_budget:
                break
    finally:
        del trial
        _release_memory()


def _budget_spent(trial: _Trial) -> bool:
    """Count the finished epoch against the sweep's budget; True when this epoch must be the last.
    Rank 0 asks and every worker of a data-parallel trial gets its answer, so they stop together."""
    if trial.spec.budget is None:
        return False
    spent = bool(trial.spec.budget.after_epoch()) if trial.ctx.rank == 0 else False
    if is_distributed():
        answer = [spent]
        torch.distributed.broadcast_object_list(answer, src=0)
        spent = bool(answer[0])
    return spent


def _release_memory() -> None:
    """Hand a finished trial's model, optimizer and batches back before the process serves the next
    trial: collect reference cycles, empty CUDA's cache, and return freed heap pages to the OS
    (glibc keeps them otherwise, and a reused process's resident memory would creep up by tens of
    MiB per trial)."""
    import ctypes
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        pass


def _setup(spec: TrialSpec, sampled: dict[str, Any], build_runtime: RuntimeFactory,
           ctx: TrialContext, started: float) -> _Trial:  # fmt: skip
    """Threads, seed, data, the task's runtime (fresh weights), batches, optimizer and schedule."""
    entered = time.time()  # this process is up and has imported torch and this module
    _TRIALS_RUN[0] += 1
    torch.set_num_threads(spec.threads)
    params = build_runtime.params_model.model_validate(spec.params(sampled))
    seed_everything(params.seed)  # the same seed in a reused process as in a fresh one
    device = ctx.device(spec.gpus_per_worker > 0)
    with phase("fetching the data"):
        data = _fetch_data(spec)
    fetched = time.time()
    with phase("loading the model"):
        runtime = build_runtime.build_runtime(params, data, spec, device)
    startup = {"startup_worker_s": entered - started, "startup_data_s": fetched - entered,  # seconds
               "process_trial_index": float(_TRIALS_RUN[0])}  # fmt: skip
    startup.update({f"startup_{k}": v for k, v in getattr(runtime, "timings", {}).items()})
    startup.update(trained_size(runtime.model))
    with phase("placing the model on its device"):
        model = ctx.prepare_model(runtime.model, device)
    loader, sampler = _loader(runtime, params, ctx.world_size, ctx.rank)
    optimizer = build_optimizer(params, model)
    steps_per_epoch = math.ceil(len(loader) / params.grad_accum_steps)  # optimizer steps
    scheduler = build_scheduler(params, optimizer, steps_per_epoch * params.epochs)
    precision = resolve_precision(params.mixed_precision, device)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None  # fp16 resolves so on CUDA only
    return _Trial(spec, params, ctx, runtime, model, device, loader, sampler, optimizer, scheduler, scaler, startup,
                  started, precision)  # fmt: skip


def _resume(trial: _Trial) -> dict[str, Any]:
    """Progress of this trial: fresh, or restored from its latest checkpoint after a failure."""
    from finesweep.training.checkpoint import load_training_state

    progress: dict[str, Any] = {"epoch": 0, "best": None, "stale_epochs": 0, "train_seconds": 0.0,
                                "first_step_s": None, "restarts": 0}  # fmt: skip
    with trial.ctx.latest_checkpoint() as folder:
        if folder is None:
            return progress
        progress = load_training_state(folder, _unwrap(trial.model), trial.optimizer, trial.scheduler, trial.scaler)
    progress["restarts"] = progress.get("restarts", 0) + 1
    print(f"finesweep: resumed from the epoch-{progress['epoch']} checkpoint (restart {progress['restarts']})")
    return progress


def _train_epoch(trial: _Trial, epoch: int, progress: dict[str, Any]) -> list[float]:
    """One pass over this worker's share of the training batches; returns the per-batch losses.

    The batches of one optimizer step (``grad_accum_steps`` of them) are kept until the step, so a
    step that runs out of device memory can be redone in smaller pieces (:func:`_accumulate`)."""
    params, optimizer = trial.params, trial.optimizer
    trial.sampler.set_epoch(epoch)  # the same permutation per epoch whether or not the trial restarted
    trial.model.train()
    epoch_start = time.time()
    losses: list[float] = []
    window: list[dict[str, torch.Tensor]] = []
    optimizer.zero_grad(set_to_none=True)
    for step, batch in enumerate(trial.loader, start=1):
        if progress["first_step_s"] is None:
            progress["first_step_s"] = time.time() - trial.started  # seconds from trial start
        window.append(batch)
        if step % params.grad_accum_steps == 0 or step == len(trial.loader):
            losses.extend(_accumulate(trial, window))
            _optimizer_step(trial)
            window = []
    progress["train_seconds"] += time.time() - epoch_start
    return losses


def _accumulate(trial: _Trial, window: list[dict[str, torch.Tensor]]) -> list[float]:
    """Forward and backward of one optimizer step's batches, each in ``trial.pieces`` pieces.

    When the device runs out of memory and the job allows it (``failure.oom_retry``), the step's
    gradients are cleared and its batches start again in twice as many pieces, as Accelerate's
    ``find_executable_batch_size`` halves its batch: the effective batch (``batch_size x
    grad_accum_steps``) stays the same, and the trial keeps the smaller pieces to its end."""
    while True:
        try:
            return [_backward(trial, batch) for batch in window]
        except RuntimeError as error:
            if not _may_split(trial, error, window):
                raise
            trial.optimizer.zero_grad(set_to_none=True)
            trial.pieces *= 2
            _release_memory()
            print(f"finesweep: out of memory in a training step ({first_line(error)}); "
                  f"redoing it with each batch in {trial.pieces} pieces (the same effective batch)")  # fmt: skip


def _backward(trial: _Trial, batch: dict[str, torch.Tensor]) -> float:
    """One batch's loss and gradients, summed over its pieces weighted by their rows (the loss of
    the whole batch when the task's loss is a mean over examples); returns that loss."""
    params, scaler = trial.params, trial.scaler
    rows = _rows(batch) if trial.pieces > 1 else 0
    parts = split_rows(rows, trial.pieces) if rows else [slice(None)]
    total = 0.0
    for part in parts:
        share = (part.stop - part.start) / rows if rows else 1.0  # this piece's fraction of the batch
        piece = {key: value[part].to(trial.device) for key, value in batch.items()}
        with _autocast(trial.device, trial.precision):
            loss = trial.runtime.loss(trial.model, piece)
        total += float(loss.detach()) * share
        scaled = loss * share / params.grad_accum_steps  # gradients average over the accumulated batches
        (scaler.scale(scaled) if scaler else scaled).backward()
    return total


def _rows(batch: dict[str, torch.Tensor]) -> int:
    """The batch's number of examples, or 0 when its tensors do not all have them first (such a
    batch cannot be cut into pieces)."""
    sizes = {value.shape[0] if isinstance(value, torch.Tensor) and value.dim() else -1 for value in batch.values()}
    return sizes.pop() if len(sizes) == 1 and -1 not in sizes else 0


def _may_split(trial: _Trial, error: BaseException, window: list[dict[str, torch.Tensor]]) -> bool:
    """Whether a training step that failed with ``error`` may run again in smaller pieces: an out
    of memory error, a job that allows it (``exact``: a loss that is a mean over examples, which
    class weights are not), one worker (data-parallel workers must run the same steps), and
    batches with at least twice the pieces' rows."""
    mode = trial.spec.oom_retry
    allowed = mode == "always" or (mode == "exact" and getattr(trial.params, "balancing", "none") != "class_weight")
    smallest = min((_rows(batch) for batch in window), default=0)
    return allowed and is_out_of_memory(error) and not is_distributed() and smallest >= 2 * trial.pieces


def _optimizer_step(trial: _Trial) -> None:
    """Clip (unless the job turned clipping off), step (through the fp16 scaler when there is one),
    advance the schedule, clear gradients."""
    optimizer, scaler = trial.optimizer, trial.scaler
    if scaler:
        scaler.unscale_(optimizer)
    if trial.params.max_grad_norm is not None:  # null: the job turned clipping off
        torch.nn.utils.clip_grad_norm_(trial.model.parameters(), trial.params.max_grad_norm)
    if scaler:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    trial.scheduler.step()
    optimizer.zero_grad(set_to_none=True)


def _validate(trial: _Trial, epoch: int, losses: list[float], progress: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The epoch's metrics (validation figures, timings) and whether early stopping ends the trial."""
    params, spec = trial.params, trial.spec
    eval_start = time.time()
    metrics: dict[str, Any] = {
        "epoch": epoch,  # ASHA's time attribute
        "train_loss": mean_across_workers(sum(losses) / max(len(losses), 1)),
        "lr": trial.scheduler.get_last_lr()[0],  # the schedule's current rate (the param `learning_rate` is its peak)
    }
    metrics.update(trial.runtime.evaluate(trial.model, "validation", "val_"))
    value = metrics[spec.objective.primary.metric]
    if spec.objective.primary.better(value, progress["best"]):
        progress["best"], progress["stale_epochs"] = value, 0
    else:
        progress["stale_epochs"] += 1
    stop_early = params.early_stopping_patience > 0 and progress["stale_epochs"] >= params.early_stopping_patience
    progress["epoch"] = epoch
    metrics["eval_time_s"] = time.time() - eval_start
    metrics["time_to_first_step_s"] = progress["first_step_s"] or 0.0
    metrics.update(trial.startup)
    metrics["peak_memory_mb"] = peak_memory_mb(trial.device)
    metrics["resident_memory_mb"] = resident_memory_mb()
    metrics["train_time_s"] = progress["train_seconds"]
    metrics["restarts"] = progress["restarts"]
    metrics["oom_batch_pieces"] = float(trial.pieces)  # 1 unless a step ran out of memory (failure.oom_retry)
    metrics["precision"] = trial.precision  # text: recorded as the tag finesweep.precision
    metrics["stopped_early"] = float(stop_early)
    return metrics, stop_early


def _report(trial: _Trial, metrics: dict[str, Any], progress: dict[str, Any], final: bool) -> None:
    """Report one epoch with a checkpoint; at the end add test-split figures and the final model."""
    from finesweep.training.checkpoint import save_training_state, write_manifest

    metrics[FINAL_KEY] = float(final)
    if final:
        test_start = time.time()
        with phase("evaluating the test split"):
            metrics.update(trial.runtime.evaluate(trial.model, "test", "test_"))
        metrics["test_eval_time_s"] = time.time() - test_start  # seconds on the held-out split
        progress["final_metrics"] = metrics  # a trial restored from this checkpoint is already done
    with tempfile.TemporaryDirectory(prefix="finesweep-ckpt-") as tmp:
        folder = None
        if trial.ctx.rank == 0:  # only rank 0 writes; DDP keeps every replica's weights identical
            folder = Path(tmp)
            model = _unwrap(trial.model)
            save_training_state(folder, model, trial.optimizer, trial.scheduler, trial.scaler, progress)
            if final:
                trial.runtime.write_final_artifacts(model, folder, metrics)
            write_manifest(folder)
        trial.ctx.report(metrics, folder)


def _report_again(trial: _Trial, metrics: dict[str, Any]) -> None:
    """Re-report a finished trial's final result and checkpoint.

    The driver can die after a trial's final checkpoint was saved but before Tune recorded the
    trial as done; on ``--resume`` Tune restarts it from that checkpoint, and it must end with the
    same final result instead of training further (or reporting nothing, which Tune rejects).
    """
    import shutil

    print(f"finesweep: the trial had already finished (epoch {metrics.get('epoch')}); reporting its final result again")
    with tempfile.TemporaryDirectory(prefix="finesweep-ckpt-") as tmp:
        folder = None
        if trial.ctx.rank == 0:
            with trial.ctx.latest_checkpoint() as latest:
                shutil.copytree(latest, tmp, dirs_exist_ok=True)
            folder = Path(tmp)
        trial.ctx.report(metrics, folder)
