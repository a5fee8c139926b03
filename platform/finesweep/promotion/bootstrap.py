"""The paired bootstrap of champion against challenger on one held-out split."""

from __future__ import annotations

import numpy as np

from finesweep.errors import TrackingError
from finesweep.tasks.base import HeldOut


def paired_bootstrap(challenger: HeldOut, champion: HeldOut, metric: str, rounds: int = 1000,
                     seed: int = 0) -> dict[str, float]:  # fmt: skip
    """Resample the split's examples (texts or queries) with replacement, the same rows for both
    models, and recompute ``metric`` on each resample.

    ``difference`` is challenger - champion on the whole split; ``p_value`` the share of resamples
    where the challenger does not beat the champion (one-sided); ``ci_low``/``ci_high`` bound the
    difference at 95%.
    """
    if challenger.score is None or champion.score is None or metric not in challenger.bootstrappable:
        allowed = ", ".join(challenger.bootstrappable) or "none"
        raise TrackingError(f"no bootstrap for {metric}; it is computed for: {allowed}")
    if challenger.examples != champion.examples:
        raise TrackingError(f"the models were scored on different splits ({challenger.examples} vs {champion.examples} {challenger.unit}s)")
    everything = np.arange(challenger.examples)
    rng = np.random.default_rng(seed)
    diffs = np.empty(rounds)
    for r in range(rounds):
        rows = rng.integers(0, challenger.examples, challenger.examples)
        diffs[r] = challenger.score(metric, rows) - champion.score(metric, rows)
    return {
        "difference": challenger.score(metric, everything) - champion.score(metric, everything),
        "p_value": float(np.mean(diffs <= 0)),
        "ci_low": float(np.percentile(diffs, 2.5)),
        "ci_high": float(np.percentile(diffs, 97.5)),
        "resampled": float(challenger.examples),
    }
