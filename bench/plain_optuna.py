"""The lower bound for one machine: the same trials in a plain in-process Optuna loop, no Ray, no
MLflow. Reads the trials' configurations (JSON) and writes per-trial timings (JSON).

    python bench/plain_optuna.py JOB.yaml CONFIGS.json OUT.json

Uses finesweep's own task code for the model, tokenization and metrics, so the two sides differ
only in what finesweep adds: Ray Tune, Ray Train, MLflow, checkpoints and artifacts.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def _suggest(trial: Any, name: str, distribution: Any) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    if isinstance(distribution, FloatDistribution):
        return trial.suggest_float(name, distribution.low, distribution.high, log=distribution.log)
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    return trial.suggest_int(name, distribution.low, distribution.high, step=distribution.step, log=distribution.log)


def _train_one(task: Any, params: Any, data: Any, config: Any, metric: str) -> tuple[float, dict[str, float]]:
    import torch
    from torch.utils.data import DataLoader

    from finesweep.training.optim import build_optimizer, build_scheduler
    from finesweep.training.seeding import seed_everything

    started = time.perf_counter()
    seed_everything(params.seed)
    runtime = task.build_runtime(params, data, config, torch.device("cpu"))
    model = runtime.model
    generator = torch.Generator().manual_seed(params.seed)
    loader = DataLoader(
        runtime.train_dataset(), batch_size=params.batch_size, shuffle=True, generator=generator, collate_fn=runtime.collate
    )
    optimizer = build_optimizer(params, model)
    scheduler = build_scheduler(params, optimizer, len(loader) * params.epochs)
    timings = {"model_load_s": runtime.timings["model_load_s"], "tokenize_s": runtime.timings["tokenize_s"],
               "train_s": 0.0, "eval_s": 0.0, "first_step_s": None}  # fmt: skip
    value = float("nan")
    for _ in range(params.epochs):
        model.train()
        epoch_start = time.perf_counter()
        for batch in loader:
            if timings["first_step_s"] is None:
                timings["first_step_s"] = time.perf_counter() - started
            loss = runtime.loss(model, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), params.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
        timings["train_s"] += time.perf_counter() - epoch_start
        eval_start = time.perf_counter()
        value = runtime.evaluate(model, "validation", "val_")[metric]
        timings["eval_s"] += time.perf_counter() - eval_start
    eval_start = time.perf_counter()
    runtime.evaluate(model, "test", "test_")  # finesweep scores the test split at the end too
    timings["eval_s"] += time.perf_counter() - eval_start
    timings["trial_s"] = time.perf_counter() - started
    return value, timings


def main(job_path: str, configs_path: str, out_path: str, threads: str = "0", shard: str = "0/1") -> None:
    """Run the configurations of ``configs_path`` (every ``n``-th from ``i``, for ``shard`` "i/n")
    through an Optuna study in this one reused process with ``threads`` torch threads (0: every
    core); write timings to ``out_path``."""
    import optuna
    import torch

    from finesweep.config import load_job
    from finesweep.models.resolve import resolve_base_model
    from finesweep.tasks import get_task
    from finesweep.tuning.search.space import to_optuna

    started = time.perf_counter()
    torch.set_num_threads(int(threads) or os.cpu_count() or 1)  # 0: one trial at a time gets the whole machine
    index, count = (int(part) for part in shard.split("/"))
    loaded = load_job(Path(job_path))
    task = get_task(loaded.job.task)
    data = task.prepare_data(loaded)
    base = resolve_base_model(loaded.job.model.base, loaded.path.parent)
    task.pretokenize(loaded, data, base.location)
    from finesweep.tasks.base import baseline_spec

    config = baseline_spec(loaded, base.location)  # the same base model, LoRA targets and task
    distributions = to_optuna(loaded.space)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=loaded.objective.primary.optuna_direction)
    for values in json.loads(Path(configs_path).read_text())[index::count]:
        study.enqueue_trial(values)
    trials: list[dict[str, Any]] = []

    def objective(trial: Any) -> float:
        values = {name: _suggest(trial, name, dist) for name, dist in distributions.items()}
        params = task.params_model.model_validate({**loaded.params.model_dump(), **values})
        value, timings = _train_one(task, params, data, config, loaded.objective.primary.metric)
        trials.append({"values": values, "value": value, **timings})
        print(f"plain optuna: trial {len(trials)}: {loaded.objective.primary.metric} {value:.4f} in {timings['trial_s']:.1f} s", flush=True)
        return value

    study.optimize(objective, n_trials=len(study.trials) or 1)
    Path(out_path).write_text(json.dumps({"wall_s": time.perf_counter() - started, "trials": trials}, indent=2))


if __name__ == "__main__":
    from finesweep.settings import Settings, using

    with using(Settings.from_environment(os.environ)):  # a benchmark is an entry point, as the CLI is
        main(*sys.argv[1:6])
