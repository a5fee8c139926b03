"""The Hugging Face ``Trainer`` on the same model, LoRA setup, data, batch size, sequence length and
threads as a finesweep trial; writes training/evaluation samples per second and peak memory.

    python bench/hf_trainer.py JOB.yaml THREADS OUT.json
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def main(job_path: str, threads: str, out_path: str) -> None:
    """Train and evaluate once with ``transformers.Trainer``; write the figures to ``out_path``."""
    import torch
    from transformers import Trainer, TrainingArguments

    from finesweep.config import load_job
    from finesweep.models.resolve import resolve_base_model
    from finesweep.tasks import get_task
    from finesweep.training.seeding import seed_everything

    torch.set_num_threads(int(threads))
    loaded = load_job(Path(job_path))
    task = get_task(loaded.job.task)
    data = task.prepare_data(loaded)
    base = resolve_base_model(loaded.job.model.base, loaded.path.parent)
    task.pretokenize(loaded, data, base.location)
    params = loaded.params
    seed_everything(params.seed)
    from finesweep.tasks.base import baseline_spec

    spec = baseline_spec(loaded, base.location)
    runtime = task.build_runtime(params, data, spec, torch.device("cpu"))  # same model, LoRA and token ids
    train = runtime.train_dataset()
    validation = [runtime._item("validation", i) for i in range(len(data.splits["validation"]["label"]))]
    with tempfile.TemporaryDirectory() as out_dir:
        args = TrainingArguments(
            output_dir=out_dir,
            per_device_train_batch_size=params.batch_size,
            per_device_eval_batch_size=params.eval_batch_size,
            num_train_epochs=params.epochs,
            learning_rate=params.learning_rate,
            weight_decay=params.weight_decay,
            warmup_steps=params.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio
            max_grad_norm=params.max_grad_norm,
            lr_scheduler_type="linear",
            save_strategy="no",
            eval_strategy="no",
            logging_strategy="no",
            report_to=[],
            use_cpu=True,
            bf16=params.mixed_precision == "bf16",  # autocast as the finesweep trial does (bench/throughput.py)
            dataloader_num_workers=0,
            seed=params.seed,
            disable_tqdm=True,
        )
        trainer = Trainer(model=runtime.model, args=args, train_dataset=train, data_collator=runtime.collate)
        started = time.perf_counter()
        trainer.train()
        train_s = time.perf_counter() - started
        started = time.perf_counter()
        metrics = trainer.evaluate(eval_dataset=validation)
        eval_s = time.perf_counter() - started
    figures = {
        "train_samples_per_s": len(train) * params.epochs / train_s,
        "eval_samples_per_s": len(validation) / eval_s,
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "train_s": train_s,
        "eval_loss": metrics.get("eval_loss"),
    }
    Path(out_path).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    from finesweep.settings import Settings, using

    with using(Settings.from_environment(os.environ)):  # a benchmark is an entry point, as the CLI is
        main(*sys.argv[1:4])
