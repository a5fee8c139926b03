"""Optimizers and learning-rate schedules with warmup, built from a task's parameters."""

from __future__ import annotations

import math
from typing import Any

import torch


def build_optimizer(params: Any, model: torch.nn.Module) -> torch.optim.Optimizer:
    """adamw, adam or sgd over the trainable parameters; no weight decay on biases and LayerNorms.

    With ``head_learning_rate`` set, the modules PEFT trains in full beside the LoRA adapters (its
    ``modules_to_save`` copies: the classifier, the pooler, a masked-LM head) get that rate: a head
    that starts from random weights needs a rate that would wreck the adapters (GoEmotions-Korean,
    28 labels: a head at the adapters' 1e-3 stays at the label frequencies, see docs/tasks.md).
    """
    head_lr = getattr(params, "head_learning_rate", None)
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, tensor in model.named_parameters():
        if not tensor.requires_grad:
            continue
        no_decay = tensor.ndim < 2 or "LayerNorm" in name or "layer_norm" in name
        is_head = head_lr is not None and ".modules_to_save." in name
        groups.setdefault((no_decay, is_head), []).append(tensor)
    param_groups = [
        {"params": tensors, "weight_decay": 0.0 if no_decay else params.weight_decay,
         "lr": head_lr if is_head else params.learning_rate}
        for (no_decay, is_head), tensors in sorted(groups.items())
    ]  # fmt: skip
    if params.optimizer == "adamw":
        return torch.optim.AdamW(param_groups, lr=params.learning_rate)
    if params.optimizer == "adam":
        return torch.optim.Adam(param_groups, lr=params.learning_rate)
    return torch.optim.SGD(param_groups, lr=params.learning_rate, momentum=params.momentum)


def build_scheduler(params: Any, optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup over ``warmup_ratio`` of the optimizer steps, then linear/cosine decay or constant."""
    from transformers import get_scheduler

    warmup = int(math.ceil(params.warmup_ratio * total_steps))
    name = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}[params.lr_scheduler]
    return get_scheduler(name, optimizer=optimizer, num_warmup_steps=warmup, num_training_steps=max(total_steps, 1))
