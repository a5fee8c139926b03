"""Optimizers and learning-rate schedules with warmup, built from a task's parameters."""

from __future__ import annotations

import math
from typing import Any

import torch


def build_optimizer(params: Any, model: torch.nn.Module) -> torch.optim.Optimizer:
    """adamw, adam or sgd over the trainable parameters; no weight decay on biases and LayerNorms."""
    decay, no_decay = [], []
    for name, tensor in model.named_parameters():
        if not tensor.requires_grad:
            continue
        (no_decay if tensor.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(tensor)
    groups = [{"params": decay, "weight_decay": params.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if params.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=params.learning_rate)
    if params.optimizer == "adam":
        return torch.optim.Adam(groups, lr=params.learning_rate)
    return torch.optim.SGD(groups, lr=params.learning_rate, momentum=params.momentum)


def build_scheduler(params: Any, optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup over ``warmup_ratio`` of the optimizer steps, then linear/cosine decay or constant."""
    from transformers import get_scheduler

    warmup = int(math.ceil(params.warmup_ratio * total_steps))
    name = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}[params.lr_scheduler]
    return get_scheduler(name, optimizer=optimizer, num_warmup_steps=warmup, num_training_steps=max(total_steps, 1))
