"""The Tune trainables: a single-worker trial trains in its own (reused) Tune trial actor; a
multi-worker trial fits a Ray Train ``TorchTrainer`` (Train V2 pattern).

Why two paths: Train V2 starts a controller actor, worker actors, a placement-group cleaner and a
queue actor on every ``TorchTrainer.fit()``, with no switch to reuse them; on 2 cores that cost
about 18 s before the first training step and about 20 s of teardown per trial. A trial with one
worker needs none of it: it trains inside the Tune trial actor, which asks Tune for the worker's
CPUs and GPUs, and Tune's actor reuse hands the warm process (imports, fetched data) to the next
trial. Data parallelism (``workers_per_trial >= 2``) needs Train's process group, so those trials
keep the ``TorchTrainer``, whose ``TuneReportCallback`` forwards rank 0's per-epoch metrics (and
checkpoint path) to Tune. Both run the same loop (``training.loop.run_trial_loop``).
"""

from __future__ import annotations

import os
import time
from typing import Any

from finesweep.training.spec import TrialSpec


def run_trial_in_process(config: dict[str, Any], spec: TrialSpec) -> None:
    """Train one configuration inside this Tune trial actor (``spec.runtime == "in_trial"``)."""
    from finesweep.tasks import get_task
    from finesweep.training.context import TuneTrialContext
    from finesweep.training.loop import run_trial_loop

    started = time.time()  # the trial (re)started: its clock for time-to-first-step
    run_trial_loop(spec, config, get_task(spec.task), TuneTrialContext(), started)


def run_trial(config: dict[str, Any], spec: TrialSpec) -> None:
    """Train one configuration with a Ray Train ``TorchTrainer`` (``spec.runtime == "train"``)."""
    import ray.tune
    from ray.tune.integration.ray_train import TuneReportCallback

    trial_id = ray.tune.get_context().get_trial_id()
    build_trainer(config, spec, trial_id, callbacks=[TuneReportCallback()]).fit()


def train_worker(config: dict[str, Any]) -> None:
    """Entry point of every Ray Train worker: resolve the task, run the shared loop."""
    from finesweep.tasks import get_task
    from finesweep.training.context import TrainWorkerContext
    from finesweep.training.loop import run_trial_loop

    spec: TrialSpec = config["spec"]
    run_trial_loop(spec, config["sampled"], get_task(spec.task), TrainWorkerContext(), float(config["started"]))


def build_trainer(config: dict[str, Any], spec: TrialSpec, trial_id: str, callbacks: list | None = None) -> Any:
    """The trial's TorchTrainer. Its run is named after the trial, so fitting it again (a restored
    sweep) continues from the trial's latest checkpoint in ``storage_path/train/<trial_id>``."""
    import ray.train
    from ray.train.torch import TorchTrainer

    resources = {"CPU": spec.cpus_per_worker}
    if spec.gpus_per_worker:
        resources["GPU"] = spec.gpus_per_worker
    return TorchTrainer(
        train_worker,
        train_loop_config={"spec": spec, "sampled": dict(config), "started": time.time()},
        scaling_config=ray.train.ScalingConfig(
            num_workers=spec.workers_per_trial, use_gpu=spec.gpus_per_worker > 0, resources_per_worker=resources
        ),
        run_config=ray.train.RunConfig(
            name=trial_id,
            storage_path=os.path.join(spec.storage_path, "train"),
            callbacks=callbacks or [],
            # a dead worker restarts the worker group from the latest per-epoch checkpoint
            failure_config=ray.train.FailureConfig(max_failures=spec.max_retries),
            checkpoint_config=ray.train.CheckpointConfig(
                num_to_keep=spec.keep_checkpoints,  # the best by the sweep metric (+ the latest)
                checkpoint_score_attribute=spec.objective.primary.metric,
                checkpoint_score_order=spec.objective.primary.mode,
            ),
        ),
    )


def trial_resources(spec: TrialSpec, driver_cpus: float) -> dict[str, float]:
    """What Tune reserves for the trial actor itself: the whole worker in-trial, else a driver share
    (the Train workers then ask for theirs)."""
    if spec.runtime == "train":
        return {"CPU": driver_cpus}
    resources = {"CPU": spec.cpus_per_worker}
    if spec.gpus_per_worker:
        resources["GPU"] = spec.gpus_per_worker
    return resources
