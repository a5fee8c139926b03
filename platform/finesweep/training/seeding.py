"""Seeding for reproducible trials on CPU (and as reproducible as cuDNN allows on GPU)."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic kernels.

    cuBLAS is deterministic only with ``CUBLAS_WORKSPACE_CONFIG`` set before its first use; this
    library sets no environment variable, so the entry points give it (:data:`finesweep.settings.CUBLAS_ENV`): the CLI
    to its own process (which a local Ray's workers inherit), a local Ray's and a submitted job's
    runtime environment to their workers.
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
