"""Class balancing for the training split: random oversampling or a class-weighted loss."""

from __future__ import annotations

import numpy as np
from sklearn.utils.class_weight import compute_class_weight

BALANCING = ("none", "oversample", "class_weight")


def oversample_indices(labels: list[int], seed: int) -> list[int]:
    """Indices of the training examples with every minority class resampled up to the majority count.

    Only ever applied to the training split; validation and test keep their true distribution.
    """
    rng = np.random.default_rng(seed)
    array = np.asarray(labels)
    classes, counts = np.unique(array, return_counts=True)
    target = counts.max()
    picked = [np.arange(len(array))]
    for cls, count in zip(classes, counts):
        if count < target:
            members = np.flatnonzero(array == cls)
            picked.append(rng.choice(members, size=target - count, replace=True))
    indices = np.concatenate(picked)
    rng.shuffle(indices)
    return indices.tolist()


def class_weights(labels: list[int], num_classes: int) -> list[float]:
    """'balanced' weights n_samples / (n_classes * n_c) (scikit-learn); 1.0 for absent classes."""
    array = np.asarray(labels)
    present = np.unique(array)
    weights = np.ones(num_classes, dtype=float)
    weights[present] = compute_class_weight("balanced", classes=present, y=array)
    return weights.tolist()
