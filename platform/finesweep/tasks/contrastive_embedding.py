"""Contrastive embedding: a bi-encoder over a base encoder (LoRA or full), mean pooling, InfoNCE
with in-batch negatives and a searchable temperature, optional E5-style query/passage prefixes,
and optional BM25 hard negatives (``hard_negatives``, mined once per sweep: ``data.hard_negatives``).

Reports every epoch ``train_loss``, ``val_loss`` (InfoNCE of each query against the whole
corpus: every passage of every split, see ``finesweep.data.pairs``) and ``val_recall_at_{1,5,10}``,
``val_mrr_at_10``, ``val_ndcg_at_10``; at the
end the same on the test split and, as artifacts, the encoder (adapter + tokenizer, safetensors)
and ``retrieval_report.json``. The untuned base model's figures are logged on the parent run as
``baseline_untuned_val_*``/``baseline_untuned_test_*``, so every trial is read against them.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from finesweep.data.hard_negatives import HARD_NEGATIVE_CACHE, MINED_DEPTH
from finesweep.objective import MetricCatalog, MetricFamily, cost_families
from finesweep.tasks.base import SPLITS_WITH_TRAIN, Task, TrainParams, baseline_spec

if TYPE_CHECKING:
    import torch

    from finesweep.config.loader import LoadedJob
    from finesweep.training.peak_memory import Sequences
    from finesweep.data.hard_negatives import HardNegatives
    from finesweep.training.spec import TrialSpec
    from finesweep.data.pairs import PairData

RECALL_AT = (1, 5, 10)
RETRIEVAL_FAMILIES = (
    MetricFamily("loss", "min", "InfoNCE of each query against the whole evaluation corpus", SPLITS_WITH_TRAIN),
    *(MetricFamily(f"recall_at_{k}", "max", f"share of queries whose positive passage ranks in the top {k}") for k in RECALL_AT),
    MetricFamily("mrr_at_10", "max", "mean reciprocal rank of the positive passage, 0 beyond rank 10"),
    MetricFamily("ndcg_at_10", "max", "normalised discounted cumulative gain at rank 10"),
    *cost_families("query"),
)
TOKEN_CACHE = "token_ids"
_TOKENIZATION_PARAMS = ("max_length", "max_query_length", "query_prefix", "passage_prefix")


class ContrastiveParams(TrainParams):
    """Shared hyperparameters plus the InfoNCE temperature, prefixes and the query length.

    ``max_length`` is the passage length in tokens; ``max_query_length`` the query length.
    """

    temperature: float = Field(
        default=0.05, gt=0, le=1,
        description="The InfoNCE temperature: query-passage cosine similarities are divided by it before the "
                    "softmax; smaller values sharpen it.",
    )  # fmt: skip
    query_prefix: str = Field(
        default="",
        description='Text put before every query, in training and serving, e.g. "query: " for E5 models; '
                    "empty for none.",
    )  # fmt: skip
    passage_prefix: str = Field(
        default="",
        description='Text put before every passage, in training and serving, e.g. "passage: " for E5 models; '
                    "empty for none.",
    )  # fmt: skip
    max_query_length: int = Field(
        default=64, ge=8, le=8192,
        description="The longest query in tokens (prefix included); longer queries are truncated. max_length is "
                    "the passage length.",
    )  # fmt: skip
    hard_negatives: int = Field(
        default=0, ge=0, le=MINED_DEPTH,
        description="BM25 hard negatives per training query, used in InfoNCE beside the in-batch negatives: the "
                    "training passages BM25 ranks highest for the query, leaving out its positive and every "
                    "passage of the positive's group (its article). Mined once per sweep on the driver; "
                    f"searchable (0 to {MINED_DEPTH}). 0: in-batch negatives only.",
    )  # fmt: skip


def tokenize_splits(tokenizer: Any, data: "PairData", params: ContrastiveParams) -> dict[str, dict[str, list[list[int]]]]:
    """Token ids of every split's queries and corpus (prefixes added, truncated, not padded). A
    corpus list shared by splits (validation and test rank the same whole corpus) is tokenized once
    and stays one shared list of ids, which lets evaluation encode it once per model state."""
    corpora: dict[int, list[list[int]]] = {}  # id of a split's corpus list -> its token ids

    def encode(texts: list[str], prefix: str, max_length: int) -> list[list[int]]:
        return tokenizer([prefix + t for t in texts], truncation=True, max_length=max_length)["input_ids"]

    def corpus(texts: list[str]) -> list[list[int]]:
        if id(texts) not in corpora:
            corpora[id(texts)] = encode(texts, params.passage_prefix, params.max_length)
        return corpora[id(texts)]

    return {
        name: {"query": encode(split["query"], params.query_prefix, params.max_query_length), "corpus": corpus(split["corpus"])}
        for name, split in data.splits.items()
    }


class ContrastiveEmbeddingTask(Task):
    """Registered as ``contrastive_embedding``."""

    name = "contrastive_embedding"
    params_model = ContrastiveParams
    data_kind = "pairs"
    served_by = "finesweep.serving.encoder:TextEncoder"  # the sparse encoder is served by it too
    pyfunc_entry = "mlflow_encoder.py"
    pyfunc_outputs = ()  # a vector, or a term -> weight map, per text: no fixed column schema
    metrics = MetricCatalog(RETRIEVAL_FAMILIES)
    default_metric = "val_mrr_at_10"
    baselines = (("baseline_untuned_", "untuned base model"),)
    # a retrieval challenger beats the best of these that the sweep recorded (the sparse encoder's BM25 too)
    guard_baselines = (("baseline_bm25_", "term matching with no model: an encoder that ranks below it is not worth "
                        "serving"),
                       ("baseline_untuned_", "the base model before tuning: the sweep did not improve on it"))  # fmt: skip

    def training_sequences(self, loaded: "LoadedJob") -> tuple["Sequences", ...]:
        """A query, and its passage with its hard negatives (``hard_negatives`` at its largest)."""
        from finesweep.training.peak_memory import Sequences

        negatives = int(loaded.largest("hard_negatives") or 0)
        return (Sequences(1, int(loaded.largest("max_query_length")), self.vocab_outputs),
                Sequences(1 + negatives, int(loaded.largest("max_length")), self.vocab_outputs))  # fmt: skip

    def prepare_data(self, loaded: "LoadedJob") -> "PairData":
        from finesweep.data.pairs import prepare_pairs

        return prepare_pairs(loaded.job.dataset, loaded.resolve_path)

    def pretokenize(self, loaded: "LoadedJob", data: "PairData", tokenizer_location: str) -> None:
        """Token ids once per sweep unless a length or prefix is searched (then each trial tokenizes);
        BM25 hard negatives once per sweep when ``hard_negatives`` is above 0 or searched."""
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(tokenizer_location, trust_remote_code=loaded.job.model.trust_remote_code)
        if loaded.params.hard_negatives > 0 or "hard_negatives" in loaded.space:
            data.extra[HARD_NEGATIVE_CACHE] = mine_train_negatives(tokenizer, data, tokenizer_location)
        if any(name in loaded.space for name in _TOKENIZATION_PARAMS):
            return
        data.extra[TOKEN_CACHE] = {"key": _cache_key(tokenizer_location, loaded.params),
                                   "splits": tokenize_splits(tokenizer, data, loaded.params)}  # fmt: skip

    def baseline_metrics(self, loaded: "LoadedJob", data: "PairData", base_location: str) -> dict[str, float]:
        """The untuned base model (mean pooling, the job's prefixes) on the validation and test splits."""
        import torch

        spec = baseline_spec(loaded, base_location)
        runtime = EmbeddingRuntime(loaded.params, data, spec, torch.device("cpu"), tuned=False)
        metrics = runtime.evaluate(runtime.model, "validation", "baseline_untuned_val_")
        metrics.update(runtime.evaluate(runtime.model, "test", "baseline_untuned_test_"))
        return metrics

    def build_runtime(self, params: Any, data: "PairData", spec: "TrialSpec", device: Any) -> "EmbeddingRuntime":
        return EmbeddingRuntime(params, data, spec, device)

    def held_out_split(self, dataset: Any) -> Any:
        """The sweep's test queries and corpus (see ``_retrieval_held_out``)."""
        from finesweep.tasks._retrieval_held_out import pair_test_split

        return pair_test_split(dataset)

    def evaluate_held_out(self, model: Any, split: Any) -> Any:
        """Recall@1/5/10, MRR@10, nDCG@10 of each test query against the whole corpus, size and
        latency per query and per passage; the bootstrap resamples queries (sparse encoders too)."""
        from finesweep.tasks._retrieval_held_out import evaluate_encoder

        return evaluate_encoder(model, split)


def mine_train_negatives(tokenizer: Any, data: "PairData", location: str) -> "HardNegatives":
    """BM25 hard negatives of the training split (groups: the data's, else each passage its own)."""
    from finesweep.data.hard_negatives import mine_for_split

    train = data.splits["train"]
    groups = data.train_groups or [str(i) for i in range(len(train["corpus"]))]
    return mine_for_split(tokenizer, train, groups, location)


def _cache_key(location: str, params: ContrastiveParams) -> list[Any]:
    return [location, *(getattr(params, name) for name in _TOKENIZATION_PARAMS)]


def _weights_checksum(model: "torch.nn.Module") -> tuple[float, int]:
    """The sum and count of the trainable weights: changes with every optimizer step (about 20 ms
    for MiniLM's 22 M weights; a LoRA adapter's are far fewer)."""
    import torch

    with torch.no_grad():
        trainable = [p for p in model.parameters() if p.requires_grad]
        return float(sum(p.sum(dtype=torch.float64) for p in trainable)) if trainable else 0.0, len(trainable)


def mean_pool(model: "torch.nn.Module", input_ids: "torch.Tensor", attention_mask: "torch.Tensor") -> "torch.Tensor":
    """L2-normalised mean of the last hidden states over real (unpadded) tokens."""
    import torch

    hidden = model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state.float()
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    return torch.nn.functional.normalize(pooled, dim=-1)


def ranking_metrics(scores: "torch.Tensor", positive: list[int], prefix: str) -> dict[str, float]:
    """Recall@1/5/10, MRR@10 and nDCG@10 (scikit-learn) of one relevant passage per query."""
    import numpy as np
    import torch
    from sklearn.metrics import ndcg_score

    target = torch.tensor(positive)
    positive_score = scores[torch.arange(len(positive)), target].unsqueeze(1)
    # 1 = the positive passage ranked first; a tie ranks it last among the tied passages, so a model
    # whose vectors collapsed (every score 0, a sparse encoder with no active term) ranks it last,
    # not first (counting only strictly higher scores gave such a model MRR@10 1.0)
    rank = (scores >= positive_score).sum(dim=1)
    metrics = {f"{prefix}recall_at_{k}": float((rank <= k).float().mean()) for k in RECALL_AT}
    metrics[f"{prefix}mrr_at_10"] = float(torch.where(rank <= 10, 1.0 / rank, torch.zeros_like(rank, dtype=torch.float)).mean())
    relevance = np.zeros(scores.shape)
    relevance[np.arange(len(positive)), positive] = 1.0
    metrics[f"{prefix}ndcg_at_10"] = float(ndcg_score(relevance, scores.numpy(), k=10)) if scores.shape[1] > 1 else 1.0
    return metrics


class EmbeddingRuntime:
    """Worker-side state of one trial: tokenizer, encoder, token ids and the InfoNCE loss.

    Subclasses change how a sequence becomes a vector (``_load_model``, ``encode``) and add a
    regularizer and representation metrics; batching, ranking and artifacts stay shared.
    """

    task_name = "contrastive_embedding"
    card_fields: dict[str, Any] = {"pooling": "mean", "normalize": True}

    def __init__(self, params: ContrastiveParams, data: "PairData", spec: "TrialSpec", device: Any, tuned: bool = True):
        from transformers import AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()  # a weight-loading bar per trial is noise in the sweep log
        self.params, self.data, self.device = params, data, device
        self.base = spec.base_model.as_dict()
        started = time.perf_counter()
        self.tokenizer = AutoTokenizer.from_pretrained(
            self.base["location"], trust_remote_code=spec.trust_remote_code
        )
        cached = data.extra.get(TOKEN_CACHE)
        if cached and cached["key"] == _cache_key(self.base["location"], params):
            self._ids = cached["splits"]
        else:
            self._ids = tokenize_splits(self.tokenizer, data, params)
        self._negatives = self._hard_negatives(data) if tuned and params.hard_negatives > 0 else None
        tokenized = time.perf_counter()
        self.model = self._load_model(spec, tuned).to(device)
        self._corpus_cache: tuple[tuple[Any, ...], Any] | None = None  # (key, vectors): see _corpus_vectors
        self.timings = {"tokenize_s": tokenized - started, "model_load_s": time.perf_counter() - tokenized}  # seconds

    def _hard_negatives(self, data: "PairData") -> list[list[int]]:
        """The first ``hard_negatives`` mined negatives per training query: the sweep's (mined on the
        driver), or this trial's own when the data holds none for this tokenizer."""
        cached = data.extra.get(HARD_NEGATIVE_CACHE)
        if cached is None or cached.key[0] != self.base["location"]:
            cached = mine_train_negatives(self.tokenizer, data, self.base["location"])
        return cached.first(self.params.hard_negatives)

    def _load_model(self, spec: "TrialSpec", tuned: bool) -> "torch.nn.Module":
        """The base encoder, with a LoRA adapter when fine-tuning with LoRA."""
        from transformers import AutoModel

        from finesweep.models.lora import apply_lora

        model = AutoModel.from_pretrained(self.base["location"], trust_remote_code=spec.trust_remote_code)
        if tuned and self.params.finetuning == "lora":
            p = self.params
            model = apply_lora(model, "FEATURE_EXTRACTION", p.lora_r, p.lora_alpha, p.lora_dropout, spec.lora_target_modules)
        return model

    def encode(self, model: "torch.nn.Module", input_ids: "torch.Tensor", attention_mask: "torch.Tensor") -> "torch.Tensor":
        """One vector per sequence: the normalised mean of its token states."""
        return mean_pool(model, input_ids, attention_mask)

    def regularizer(self, queries: "torch.Tensor", passages: "torch.Tensor") -> "torch.Tensor | float":
        """A penalty added to the InfoNCE loss (none for dense embeddings)."""
        return 0.0

    def distillation(self, logits: "torch.Tensor", excluded: "torch.Tensor", batch: dict[str, "torch.Tensor"]) -> "torch.Tensor | float":
        """A loss pulling the batch's InfoNCE ``logits`` towards a teacher's (none for dense
        embeddings); ``excluded`` marks the pairs InfoNCE masks."""
        return 0.0

    def representation_metrics(self, queries: "torch.Tensor", corpus: "torch.Tensor", prefix: str) -> dict[str, float]:
        """Figures about the vectors themselves (none for dense embeddings)."""
        return {}

    def train_dataset(self) -> list[dict[str, Any]]:
        """One item per training pair; ``input_ids`` is the passage (the long side, for length
        grouping); ``negatives`` the query's hard negatives (training-corpus indices, maybe none)."""
        ids, split = self._ids["train"], self.data.splits["train"]
        return [{"input_ids": ids["corpus"][p], "query_ids": ids["query"][i], "query": i, "passage": p,
                 "negatives": [] if self._negatives is None else self._negatives[i]}
                for i, p in enumerate(split["positive"])]  # fmt: skip

    def _pad(self, sequences: list[list[int]]) -> dict[str, "torch.Tensor"]:
        return self.tokenizer.pad({"input_ids": sequences}, return_tensors="pt")

    def collate(self, items: list[dict[str, Any]]) -> dict[str, "torch.Tensor"]:
        import torch

        queries, passages = self._pad([i["query_ids"] for i in items]), self._pad([i["input_ids"] for i in items])
        batch = {
            "q_input_ids": queries["input_ids"], "q_attention_mask": queries["attention_mask"],
            "p_input_ids": passages["input_ids"], "p_attention_mask": passages["attention_mask"],
            "query": torch.tensor([i["query"] for i in items]), "passage": torch.tensor([i["passage"] for i in items]),
        }  # fmt: skip
        negatives = [n for i in items for n in i.get("negatives", [])]
        if negatives:  # every query of the batch is contrasted with all of the batch's hard negatives
            padded = self._pad([self._ids["train"]["corpus"][n] for n in negatives])
            batch.update({"n_input_ids": padded["input_ids"], "n_attention_mask": padded["attention_mask"],
                          "negative": torch.tensor(negatives)})  # fmt: skip
        return batch

    def batch_vectors(self, model: "torch.nn.Module", batch: dict[str, "torch.Tensor"], side: str) -> "torch.Tensor":
        """Vectors of one side of a training batch: ``q`` (queries), ``p`` (positives) or ``n``
        (hard negatives); the sparse encoder adds its BM25 part here."""
        return self.encode(model, batch[f"{side}_input_ids"], batch[f"{side}_attention_mask"])

    def loss(self, model: "torch.nn.Module", batch: dict[str, "torch.Tensor"]) -> "torch.Tensor":
        """InfoNCE: each query against every passage in the batch and the batch's hard negatives;
        other questions about the same passage (KorQuAD has about 6 per paragraph) are masked, not
        counted as negatives, and so is a hard negative that is some query's own positive."""
        import torch

        queries = self.batch_vectors(model, batch, "q")
        passages = self.batch_vectors(model, batch, "p")
        logits = queries @ passages.T / self.params.temperature
        same = batch["passage"].unsqueeze(0) == batch["passage"].unsqueeze(1)
        duplicate = same & ~torch.eye(len(same), dtype=torch.bool, device=same.device)
        logits = logits.masked_fill(duplicate, float("-inf"))
        scored = logits
        if "negative" in batch:
            negatives = self.batch_vectors(model, batch, "n")
            own = batch["passage"].unsqueeze(1) == batch["negative"].unsqueeze(0)  # (queries x negatives)
            extra = (queries @ negatives.T / self.params.temperature).masked_fill(own, float("-inf"))
            scored = torch.cat([logits, extra], dim=1)
            passages = torch.cat([passages, negatives])
        infonce = torch.nn.functional.cross_entropy(scored, torch.arange(len(logits), device=logits.device))
        # the teacher scores in-batch pairs only: distillation reads the in-batch block
        return infonce + self.regularizer(queries, passages) + self.distillation(logits, duplicate, batch)

    def _embed(self, model: "torch.nn.Module", sequences: list[list[int]]) -> "torch.Tensor":
        """Embeddings of all ``sequences`` (CPU tensor, input order), each worker encoding a shard."""
        import torch

        from finesweep.training.loop import gather_lists, shard_indices

        indices = sorted(shard_indices(len(sequences)), key=lambda i: len(sequences[i]))  # little padding
        rows: list[tuple[int, list[float]]] = []
        for start in range(0, len(indices), self.params.eval_batch_size):
            chunk = indices[start : start + self.params.eval_batch_size]
            batch = {k: v.to(self.device) for k, v in self._pad([sequences[i] for i in chunk]).items()}
            vectors = self.encode(model, batch["input_ids"], batch["attention_mask"]).cpu()
            rows += [(i, v.tolist()) for i, v in zip(chunk, vectors)]
        ordered = sorted(gather_lists(rows))
        return torch.tensor([vector for _, vector in ordered])

    def scores(self, queries: Any, corpus: Any) -> "torch.Tensor":
        """Query x passage inner products, a dense tensor (queries x passages)."""
        return queries @ corpus.T

    def _corpus_vectors(self, model: "torch.nn.Module", split: str) -> Any:
        """Vectors of the split's corpus. Validation and test rank one whole corpus (960 KorQuAD
        paragraphs, 5,183 SciFact abstracts), so a model whose weights did not change since the
        last call (the final epoch's validation, then test) reuses them instead of encoding it again."""
        sequences = self._ids[split]["corpus"]
        key = (id(sequences), id(model), _weights_checksum(model))
        if self._corpus_cache is None or self._corpus_cache[0] != key:
            self._corpus_cache = (key, self._embed(model, sequences))
        return self._corpus_cache[1]

    def evaluate(self, model: "torch.nn.Module", split: str, prefix: str) -> dict[str, float]:
        """Rank the whole corpus (every passage of every split) for each of the split's queries."""
        import torch

        was_training = model.training
        model.eval()
        with torch.inference_mode():
            started = time.perf_counter()
            queries = self._embed(model, self._ids[split]["query"])
            query_ms = (time.perf_counter() - started) * 1000  # encoding the queries: a search's own cost
            corpus = self._corpus_vectors(model, split)
        model.train(was_training)
        scores = self.scores(queries, corpus)
        positive = self.data.splits[split]["positive"]
        loss = torch.nn.functional.cross_entropy(scores / self.params.temperature, torch.tensor(positive))
        metrics = {f"{prefix}loss": float(loss), **ranking_metrics(scores, positive, prefix)}
        metrics.update(self.representation_metrics(queries, corpus, prefix))
        if split == "validation" and len(positive):
            metrics["latency_ms_per_query"] = query_ms / len(positive)  # milliseconds per query, batched
        return metrics

    def write_final_artifacts(self, model: "torch.nn.Module", out_dir: Path, metrics: dict[str, float]) -> None:
        """The encoder (adapter or full weights, tokenizer, model card) and the test-split report."""
        encoder_dir = out_dir / "encoder"
        model.save_pretrained(encoder_dir, safe_serialization=True)
        self.tokenizer.save_pretrained(encoder_dir)
        card = {
            "task": self.task_name,
            **self.card_fields,
            "finetuning": self.params.finetuning,
            "base_model": self.base,
            "params": self.params.model_dump(),
            "dataset_fingerprint": self.data.fingerprint,
        }
        (encoder_dir / "finesweep_model.json").write_text(json.dumps(card, indent=2))
        report = {key: value for key, value in metrics.items() if re.match(r"^(test|val)_", key)}
        (out_dir / "retrieval_report.json").write_text(json.dumps(report, indent=2))


TASK = ContrastiveEmbeddingTask()
