"""The Tune trainable: one trial builds and fits one Ray Train ``TorchTrainer`` (Train V2 pattern).

Ray 2.60 runs Train V2, where ``Tuner(TorchTrainer(...))`` is not supported; instead the trainable
is a function that fits a TorchTrainer whose ``TuneReportCallback`` forwards rank 0's per-epoch
metrics (and checkpoint path) to Tune, where ASHA sees the ``epoch`` metric.
"""

from __future__ import annotations

import os
import time
from typing import Any


def run_trial(config: dict[str, Any], spec: dict[str, Any]) -> None:
    """Train one configuration. ``config`` holds the sampled hyperparameters, ``spec`` the rest."""
    import ray.tune
    from ray.tune.integration.ray_train import TuneReportCallback

    trial_id = ray.tune.get_context().get_trial_id()
    build_trainer(config, spec, trial_id, callbacks=[TuneReportCallback()]).fit()


def build_trainer(config: dict[str, Any], spec: dict[str, Any], trial_id: str, callbacks: list | None = None) -> Any:
    """The trial's TorchTrainer. Its run is named after the trial, so fitting it again (a restored
    sweep) continues from the trial's latest checkpoint in ``storage_path/train/<trial_id>``."""
    import ray.train
    from ray.train.torch import TorchTrainer

    from finesweep.training.loop import train_loop_per_worker

    started = time.time()
    scaling = spec["scaling"]
    resources = {"CPU": scaling["cpus_per_worker"]}
    if scaling["gpus_per_worker"]:
        resources["GPU"] = scaling["gpus_per_worker"]
    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config={
            **spec["worker"],
            "params": {**spec["fixed_params"], **config},
            "trial_started_at": started,
            "cpus_per_worker": scaling["cpus_per_worker"],
        },
        scaling_config=ray.train.ScalingConfig(
            num_workers=scaling["workers_per_trial"],
            use_gpu=scaling["gpus_per_worker"] > 0,
            resources_per_worker=resources,
        ),
        run_config=ray.train.RunConfig(
            name=trial_id,
            storage_path=os.path.join(spec["storage_path"], "train"),
            callbacks=callbacks or [],
            # a dead worker restarts the worker group from the latest per-epoch checkpoint
            failure_config=ray.train.FailureConfig(max_failures=spec["failure"]["max_retries"]),
            checkpoint_config=ray.train.CheckpointConfig(
                num_to_keep=spec["failure"]["keep_checkpoints"],  # the best by the sweep metric (+ the latest)
                checkpoint_score_attribute=spec["worker"]["metric"],
                checkpoint_score_order=spec["worker"]["mode"],
            ),
        ),
    )
