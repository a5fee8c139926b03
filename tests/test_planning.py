"""Concurrency planning: whole trials (driver + all workers, or one in-trial worker) packed onto nodes."""

from __future__ import annotations

import pytest

from finesweep.config.schema import ScalingConfig
from finesweep.errors import SweepError
from finesweep.tuning.execution.planning import plan_concurrency, trials_that_fit


def _scaling(**fields) -> ScalingConfig:
    return ScalingConfig.model_validate(fields)


def test_two_one_cpu_trials_fit_two_cores():
    scaling = _scaling(cpus_per_worker=0.9, trial_driver_cpus=0.1)
    assert trials_that_fit([{"CPU": 2.0}], scaling) == 2


def test_driver_share_is_counted():
    # Train path: 1 CPU workers plus a 0.1 driver; a second trial would hold a driver whose worker never starts
    assert trials_that_fit([{"CPU": 2.0}], _scaling(cpus_per_worker=1.0, trial_runtime="train")) == 1


def test_in_trial_runtime_needs_no_driver_share():
    # a single-worker trial trains in its Tune actor: one bundle, the worker's own
    scaling = _scaling(cpus_per_worker=1.0)
    assert scaling.runtime == "in_trial"
    assert trials_that_fit([{"CPU": 2.0}], scaling) == 2
    assert _scaling(workers_per_trial=2).runtime == "train"


def test_in_trial_runtime_refuses_several_workers():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="needs workers_per_trial: 1"):
        _scaling(workers_per_trial=2, trial_runtime="in_trial")


def test_gpu_nodes_pack_whole_trials():
    nodes = [{"CPU": 8.0, "GPU": 4.0} for _ in range(3)]
    scaling = _scaling(workers_per_trial=2, cpus_per_worker=1, gpus_per_worker=1)
    assert trials_that_fit(nodes, scaling) == 6


def test_fractional_gpus_share_a_device():
    scaling = _scaling(cpus_per_worker=1, gpus_per_worker=0.25)
    assert trials_that_fit([{"CPU": 16.0, "GPU": 1.0}], scaling) == 4


def test_plan_caps_by_request_and_sweep_size():
    nodes = [{"CPU": 16.0}]
    assert plan_concurrency(nodes, _scaling(cpus_per_worker=1), num_samples=3).max_concurrent == 3
    capped = plan_concurrency(nodes, _scaling(cpus_per_worker=1, max_concurrent_trials=2), num_samples=10)
    assert capped.max_concurrent == 2 and capped.fit == 16  # in-trial: no driver share
    train = plan_concurrency(nodes, _scaling(cpus_per_worker=1, trial_runtime="train"), num_samples=100)
    assert train.fit == 14
    assert "2 trial(s) at once" in capped.describe()


def test_a_trial_that_fits_nowhere_is_refused_before_starting():
    with pytest.raises(SweepError, match=r"one trial needs .*4 GPU.* lower scaling"):
        plan_concurrency([{"CPU": 8.0, "GPU": 2.0}], _scaling(workers_per_trial=4, gpus_per_worker=1), 4)
