"""Per-epoch trial checkpoints: the trainable weights (adapter and heads, never the frozen base
model) as safetensors, optimizer/scheduler state, and the loop's progress, so a trial whose worker
died resumes at the next epoch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

WEIGHTS = "trainable.safetensors"
STATE = "training_state.pt"
PROGRESS = "progress.json"
MANIFEST = "manifest.json"


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Only the parameters being trained (LoRA adapter, heads; everything under full fine-tuning)."""
    return {name: p.detach().cpu().contiguous() for name, p in model.named_parameters() if p.requires_grad}


def save_training_state(folder: Path, model: torch.nn.Module, optimizer, scheduler, scaler, progress: dict) -> None:
    """Write weights, optimizer/scheduler/scaler state and progress into ``folder``."""
    save_file(trainable_state(model), str(folder / WEIGHTS))
    state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}
    if scaler is not None:
        state["scaler"] = scaler.state_dict()
    torch.save(state, folder / STATE)
    (folder / PROGRESS).write_text(json.dumps(progress))


def load_training_state(folder: Path, model: torch.nn.Module, optimizer, scheduler, scaler) -> dict[str, Any]:
    """Restore what :func:`save_training_state` wrote; return the progress record."""
    missing = model.load_state_dict(load_file(str(folder / WEIGHTS)), strict=False)
    if missing.unexpected_keys:
        raise RuntimeError(f"checkpoint holds weights the model lacks: {missing.unexpected_keys[:5]}")
    state = torch.load(folder / STATE, map_location="cpu", weights_only=True)  # no arbitrary unpickling
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and "scaler" in state:
        scaler.load_state_dict(state["scaler"])
    return json.loads((folder / PROGRESS).read_text())


def write_manifest(folder: Path) -> None:
    """List every file of a finished checkpoint with its size (bytes), written last.

    Ray copies a checkpoint folder to storage file by file; a copy cut short (disk full, node
    lost) leaves a folder that looks like a checkpoint. :func:`is_complete` tells them apart.
    """
    files = {
        str(path.relative_to(folder)): path.stat().st_size
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }
    (folder / MANIFEST).write_text(json.dumps(files, indent=1))


def is_complete(folder: Path) -> bool:
    """True when every file the checkpoint's manifest lists is present with its recorded size."""
    try:
        files = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    for name, size in files.items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != size:
            return False
    return True
