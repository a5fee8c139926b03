"""Promotion decisions and the paired bootstrap, on synthetic predictions."""

from __future__ import annotations

import numpy as np
import pytest

from finesweep.tracking.evaluation import metric_function, paired_bootstrap
from finesweep.tracking.registry import _decide, held_out_metric


def test_validation_metrics_map_to_their_test_counterparts():
    assert held_out_metric("val_macro_f1") == ("test_macro_f1", "max")
    assert held_out_metric("val_loss") == ("test_loss", "min")
    assert held_out_metric("val_f1_joy") == ("test_f1_joy", "max")


def test_bootstrap_separates_a_clearly_better_model():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 400).tolist()
    good = [y if rng.random() < 0.9 else (y + 1) % 3 for y in labels]
    bad = [y if rng.random() < 0.5 else (y + 1) % 3 for y in labels]
    score = metric_function("test_accuracy", ["a", "b", "c"])
    better = paired_bootstrap(labels, good, bad, score)
    assert better["difference"] > 0.3 and better["p_value"] < 0.01 and better["ci_low"] > 0
    same = paired_bootstrap(labels, good, good, score)
    assert same["difference"] == 0 and same["p_value"] == 1.0


def test_decisions_respect_min_delta_direction_and_significance():
    assert _decide(0.02, "max", 0.01, None, False, 0.05)[0]
    assert not _decide(0.005, "max", 0.01, None, False, 0.05)[0]
    assert _decide(-0.02, "min", 0.01, None, False, 0.05)[0], "a lower loss is a gain"
    promoted, reason = _decide(0.02, "max", 0.0, {"p_value": 0.2}, True, 0.05)
    assert not promoted and "not significant" in reason
    assert _decide(0.02, "max", 0.0, {"p_value": 0.01}, True, 0.05)[0]


def test_unknown_bootstrap_metric_is_refused():
    from finesweep.errors import TrackingError

    with pytest.raises(TrackingError, match="no bootstrap for test_loss"):
        metric_function("test_loss", ["a"])
