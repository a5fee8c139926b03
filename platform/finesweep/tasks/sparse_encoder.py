"""Sparse encoder (SPLADE style): a masked-LM head turns each token into vocabulary weights,
``log(1 + ReLU(logit))`` max-pooled over the sequence gives one weight per vocabulary term; trained
with InfoNCE (in-batch negatives) plus FLOPS regularisation with separate query and document
weights, optionally IDF-aware; special tokens and, optionally, stopwords are never activated.
Optionally (seed 002) distilled from a frozen dense teacher's in-batch scores (``teacher``, KL or
MarginMSE: ``_distillation``) and kept to one writing system by a penalty on other-script pieces
(``term_script``: ``_scripts``).

With ``term_weighting: bm25_residual`` a vector is BM25's exact term weights (``data.bm25``: the
Lucene variant of ``bm25s`` as sparse vectors, statistics of the whole corpus) plus a learned scalar,
initialised at 0, times the SPLADE vector, clipped at 0: learned term weights over the same inverted
index, as DeepImpact (Mallia et al. 2021) and uniCOIL (Lin & Ma 2021, "A Few Brief Notes on
DeepImpact, COIL, and a Conceptual Framework for Information Retrieval Techniques") learn them, here
as a residual on BM25 so that training starts from BM25's ranking exactly.

Reports the retrieval metrics of ``contrastive_embedding`` plus ``val_query_terms`` and
``val_doc_terms`` (mean non-zero terms per vector) and, with ``term_script``,
``val_script_term_share`` (the share of activated term weight on that script's pieces). A BM25
baseline (the ``bm25s`` library, over the model tokenizer's tokens), ranking the same whole corpus,
is logged on the parent run as ``baseline_bm25_val_*`` and ``baseline_bm25_test_*``.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from finesweep.data.bm25 import Bm25Statistics, query_vectors
from finesweep.objective import MetricCatalog, MetricFamily
from finesweep.tasks._distillation import TEACHER_CACHE, Distillation
from finesweep.tasks._scripts import OTHER, script_term_share, vocabulary_classes
from finesweep.tasks.contrastive_embedding import (
    RETRIEVAL_FAMILIES,
    ContrastiveEmbeddingTask,
    ContrastiveParams,
    EmbeddingRuntime,
    ranking_metrics,
)

if TYPE_CHECKING:
    from pathlib import Path

    import scipy.sparse
    import torch

    from finesweep.config.loader import LoadedJob
    from finesweep.tasks._distillation import TeacherEmbeddings
    from finesweep.training.spec import TrialSpec
    from finesweep.data.pairs import PairData

# Function words that carry no topic: suppressed when ``suppress_stopwords`` is on. English plus
# common Korean particles and endings; only words that are one token in the model's vocabulary count.
STOPWORDS = (
    "a an and are as at be by for from in is it of on or that the this to was were with "
    "은 는 이 가 을 를 의 에 에서 와 과 도 로 으로 및 등 더"
).split()


class SparseParams(ContrastiveParams):
    """Contrastive parameters plus FLOPS weights and term suppression.

    SPLADE scores are raw dot products, so ``temperature`` defaults to 1.
    """

    temperature: float = Field(
        default=1.0, gt=0, le=1,
        description="The InfoNCE temperature: query-passage dot products of the sparse vectors are divided by it "
                    "before the softmax.",
    )  # fmt: skip
    flops_query_weight: float = Field(
        default=3e-4, ge=0, le=10,
        description="Weight (lambda_q) of the FLOPS regulariser on query vectors: higher values give queries "
                    "fewer non-zero terms; 0 turns it off.",
    )  # fmt: skip
    flops_doc_weight: float = Field(
        default=1e-4, ge=0, le=10,
        description="Weight (lambda_d) of the FLOPS regulariser on passage vectors: higher values give passages "
                    "fewer non-zero terms; 0 turns it off.",
    )  # fmt: skip
    idf_flops: bool = Field(
        default=False,
        description="Weight each term's FLOPS penalty by 1/IDF over the training passages (mean weight 1): "
                    "frequent terms cost more, rare ones less.",
    )  # fmt: skip
    suppress_special_tokens: bool = Field(
        default=True,
        description="Never give the tokenizer's special tokens ([CLS], [SEP], padding) a weight, in training and "
                    "serving.",
    )  # fmt: skip
    suppress_stopwords: bool = Field(
        default=False,
        description="Never give common English and Korean function words a weight (those that are one token in "
                    "the model's vocabulary).",
    )  # fmt: skip
    output_vocabulary: Literal["full", "training_corpus"] = Field(
        default="full",
        description=(
            "Which vocabulary terms the masked-LM head scores. `full`: every piece of the model's "
            "vocabulary. `training_corpus`: only the pieces that occur in the training split's queries "
            "and passages; the head is cut to those rows (copied from the full head) and is untied from "
            "the input embeddings. For a 250,002-piece vocabulary (multilingual-e5) that makes the head "
            "and its logits tens of times smaller; pieces outside the training corpus then get no weight."
        ),
    )
    teacher: str | None = Field(
        default=None, min_length=1, max_length=4096,
        description="A dense encoder to distil from (seed 002's BGE-M3 teacher), named as model.base is (a "
                    "local folder, an installed model package, multilingual-e5-small-q4, a hub name already in "
                    "the Hugging Face cache) and found offline. It embeds the training queries and passages "
                    "once (mean pooling, unit length, its own tokenizer, frozen), and the student's in-batch "
                    "scores are pulled towards its cosine similarities by the distillation loss. None: no "
                    "teacher. Not searchable.",
    )  # fmt: skip
    teacher_query_prefix: str = Field(
        default="",
        description='Text put before every query the teacher embeds, e.g. "query: " for an E5 teacher; empty '
                    "for none. Not searchable.",
    )  # fmt: skip
    teacher_passage_prefix: str = Field(
        default="",
        description='Text put before every passage the teacher embeds, e.g. "passage: " for an E5 teacher; '
                    "empty for none. Not searchable.",
    )  # fmt: skip
    distillation: Distillation = Field(
        default="kl",
        description="How the student matches the teacher's in-batch scores: kl, KL(teacher || student) of the "
                    "two softmaxes over each query's in-batch passages; margin_mse, the squared difference of "
                    "their margins (positive minus each in-batch negative; Hofstätter et al. 2020). Both on "
                    "logits: student scores / temperature, teacher cosines / teacher_temperature. Needs teacher.",
    )  # fmt: skip
    distill_weight: float = Field(
        default=1.0, ge=0, le=100,
        description="Weight of the distillation loss beside InfoNCE (loss = InfoNCE + distill_weight x "
                    "distillation + regularisers); 0 turns it off. Needs teacher.",
    )  # fmt: skip
    teacher_temperature: float = Field(
        default=0.05, gt=0, le=1,
        description="The teacher's cosine similarities are divided by it to give its logits; smaller values "
                    "sharpen its distribution (E5 models were trained at 0.01). Needs teacher.",
    )  # fmt: skip
    term_script: Literal["hangul"] | None = Field(
        default=None,
        description="The writing system vectors should use (seed 002's Korean filter): with it, activation on "
                    "pieces holding letters of another script is penalised (script_penalty_weight) and "
                    "val_script_term_share / test_script_term_share are logged. Pieces without letters "
                    "(digits, punctuation, a bare ▁) and special tokens are neutral. None: no penalty.",
    )  # fmt: skip
    term_weighting: Literal["splade", "bm25_residual"] = Field(
        default="splade",
        description=(
            "How a text's term weights are made. `splade`: the masked-LM head's max-pooled "
            "log(1 + ReLU(logit)) alone (Formal et al. 2021). `bm25_residual`: BM25's exact weights "
            "(Lucene variant over the tokenizer's pieces, statistics of the whole corpus; a query "
            "weighs each piece by its count) plus a learned scalar (initialised at 0) times the SPLADE "
            "vector, clipped at 0: the inner product is BM25's score before the first step, and "
            "training moves the term weights from there (DeepImpact, Mallia et al. 2021; uniCOIL, "
            "Lin & Ma 2021)."
        ),
    )
    script_penalty_weight: float = Field(
        default=0.1, ge=0, le=100,
        description="Weight (seed 002's lambda_language) of the script penalty: the mean over the batch's query "
                    "and passage vectors of their summed weight on other-script pieces, times this; 0 only "
                    "logs the share. Needs term_script.",
    )  # fmt: skip


class SparseEncoderTask(ContrastiveEmbeddingTask):
    """Registered as ``sparse_encoder``."""

    name = "sparse_encoder"
    vocab_outputs = True  # SPLADE's masked-LM head scores every vocabulary entry at every token
    baselines = (("baseline_bm25_", "BM25"),)
    params_model = SparseParams
    metrics = MetricCatalog((
        *RETRIEVAL_FAMILIES,
        MetricFamily("query_terms", "min", "mean non-zero terms per query vector (its cost in an inverted index)"),
        MetricFamily("doc_terms", "min", "mean non-zero terms per passage vector (the index's size)"),
        MetricFamily("script_term_share", "max", "share of the queries' and passages' activated term weight on "
                     "pieces of train.term_script, neutral pieces left out (logged with term_script)"),
    ))  # fmt: skip

    def check_job(self, loaded: "LoadedJob", source: str) -> list[str]:
        """The retrieval checks plus the teacher's and the script penalty's (see :func:`teacher_problems`)."""
        return super().check_job(loaded, source) + teacher_problems(loaded, source)

    def pretokenize(self, loaded: "LoadedJob", data: "PairData", tokenizer_location: str) -> None:
        """Token ids as for dense retrieval, and the teacher's embeddings of the training split once
        per sweep (the teacher is frozen and cannot be searched)."""
        super().pretokenize(loaded, data, tokenizer_location)
        p = loaded.params
        if p.teacher is not None:
            from finesweep.models.resolve import resolve_base_model
            from finesweep.tasks._distillation import teacher_embeddings

            location = resolve_base_model(p.teacher, loaded.path.parent).location
            data.extra[TEACHER_CACHE] = teacher_embeddings(
                p.teacher, location, data.splits["train"], p.teacher_query_prefix, p.teacher_passage_prefix,
                loaded.job.model.trust_remote_code,
            )

    def baseline_metrics(self, loaded: "LoadedJob", data: "PairData", base_location: str) -> dict[str, float]:
        """BM25 (bm25s, Lucene variant) over the base tokenizer's tokens, on validation and test,
        each ranking the whole corpus (indexed once: the two splits share its list)."""
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(base_location, trust_remote_code=loaded.job.model.trust_remote_code)
        indexes: dict[int, Any] = {}  # id of a corpus list -> its BM25 index
        metrics: dict[str, float] = {}
        for split, prefix in (("validation", "baseline_bm25_val_"), ("test", "baseline_bm25_test_")):
            corpus = data.splits[split]["corpus"]
            if id(corpus) not in indexes:
                indexes[id(corpus)] = bm25_index(tokenizer, corpus)
            metrics.update(bm25_metrics(tokenizer, indexes[id(corpus)], data.splits[split], prefix))
        return metrics

    def build_runtime(self, params: Any, data: "PairData", spec: "TrialSpec", device: Any) -> "SparseRuntime":
        return SparseRuntime(params, data, spec, device)


_TEACHER_FIXED = ("teacher", "teacher_query_prefix", "teacher_passage_prefix")  # change its embeddings
_NEEDS = {"teacher": ("distillation", "distill_weight", "teacher_temperature", "teacher_query_prefix",
                      "teacher_passage_prefix"),
          "term_script": ("script_penalty_weight",)}  # fmt: skip


def teacher_problems(loaded: "LoadedJob", source: str) -> list[str]:
    """Problems with the teacher and the script keys of a whole job: teacher keys searched, keys
    given without the key they need, and a teacher that cannot be found offline."""
    params, space = loaded.params, loaded.space
    given = set(loaded.raw.get("train") or {}) | set(space)
    problems = [f"{source}: search.space {key}: cannot be searched (the teacher embeds the training split once "
                f"per sweep); set train.{key}" for key in _TEACHER_FIXED if key in space]  # fmt: skip
    for needed, keys in _NEEDS.items():
        if getattr(params, needed) is None and needed not in space:
            problems += [f"{source}: {_where(key, space)}: has no effect without train.{needed} (got {key}, no {needed})"
                         for key in sorted(given & set(keys))]  # fmt: skip
    if params.term_script is None:
        problems += [f"{source}: {key}: {metric} is logged only with train.term_script (got no term_script)"
                     for key, metric in loaded.objective_keys() if metric.endswith("_script_term_share")]  # fmt: skip
    if params.teacher is not None:
        problems += [f"{source}: train.teacher: {problem}" for problem in _offline_teacher_problems(params.teacher, loaded.path.parent)]
    return problems


def _where(key: str, space: dict) -> str:
    return f"search.space {key}" if key in space else f"train.{key}"


def _offline_teacher_problems(reference: str, relative_to: "Path") -> list[str]:
    """Why teacher ``reference`` cannot be loaded offline (resolved as model.base is, and its folder
    checked as model.base's is: weights, config.json, tokenizer files); empty when it can."""
    from pathlib import Path

    from finesweep.errors import FinesweepError
    from finesweep.models.preflight import model_folder_problems
    from finesweep.models.resolve import resolve_base_model

    try:
        teacher = resolve_base_model(reference, relative_to)
    except FinesweepError as exc:
        return [str(exc).removeprefix("model.base: ")]
    if teacher.kind != "hub":
        return model_folder_problems(Path(teacher.location))
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(teacher.location, "config.json")
    except Exception:  # noqa: BLE001 - a malformed repo id is no cached model either
        cached = None
    if isinstance(cached, str):
        return []
    return [f"{reference!r} is not a local folder, an installed model package, a named build or in the Hugging "
            "Face cache; a teacher is loaded offline only"]  # fmt: skip


def bm25_index(tokenizer: Any, corpus: list[str]) -> Any:
    """A ``bm25s.BM25`` index of ``corpus`` over the tokenizer's tokens (whole passages, untruncated)."""
    import bm25s
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # "longer than the maximum sequence length": BM25 reads whole passages
    retriever = bm25s.BM25()
    retriever.index([tokenizer.tokenize(text) for text in corpus], show_progress=False)
    return retriever


def bm25_metrics(tokenizer: Any, retriever: Any, split: dict[str, list[Any]], prefix: str) -> dict[str, float]:
    """Ranking metrics of BM25 for one split's queries against ``retriever``'s index of the split's
    corpus (the whole corpus for validation and test)."""
    import numpy as np
    import torch

    scores = torch.from_numpy(np.stack([retriever.get_scores(tokenizer.tokenize(query)) for query in split["query"]]))
    return ranking_metrics(scores, split["positive"], prefix)


def idf_weights(token_ids: list[list[int]], vocab_size: int) -> list[float]:
    """BM25-style IDF per vocabulary id over a corpus of token-id lists (unseen ids get the maximum)."""
    documents = len(token_ids)
    frequency = Counter(i for ids in token_ids for i in set(ids))
    return [math.log(1 + (documents - frequency.get(i, 0) + 0.5) / (frequency.get(i, 0) + 0.5)) for i in range(vocab_size)]


BM25_FILE = "bm25_statistics.json"  # beside a bm25_residual model's weights


def bm25_token_ids(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    """The vocabulary ids BM25 counts: every piece of each whole text (no prefix, untruncated, no
    special tokens), as the ``baseline_bm25_*`` baseline tokenizes."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # "longer than the maximum sequence length": BM25 reads whole texts
    return [tokenizer.convert_tokens_to_ids(tokenizer.tokenize(str(text))) for text in texts]


def combine(exact: "scipy.sparse.csr_matrix", residual: "scipy.sparse.csr_matrix", scale: float) -> "scipy.sparse.csr_matrix":
    """BM25's weights plus ``scale`` x the SPLADE residual, clipped at 0 (rows stay sparse)."""
    total = (exact + residual * scale).maximum(0).tocsr()
    total.eliminate_zeros()
    return total


@dataclass
class Bm25Part:
    """The exact BM25 part of a ``bm25_residual`` runtime: statistics of the whole corpus and the
    BM25 rows of every split's queries and corpus, keyed by ``id`` of their token-id lists."""

    statistics: Bm25Statistics
    rows: dict[int, "scipy.sparse.csr_matrix"]

    @classmethod
    def of_data(cls, tokenizer: Any, data: "PairData", ids: dict[str, dict[str, list[list[int]]]], vocab: int) -> "Bm25Part":
        """Statistics from the whole corpus (the evaluation splits' shared list), as the BM25
        baseline indexes it; rows for each split's queries (counts) and passages (weights)."""
        whole = data.splits["validation"]["corpus"] if "validation" in data.splits else data.splits["train"]["corpus"]
        statistics = Bm25Statistics.of_corpus(bm25_token_ids(tokenizer, whole), vocab)
        rows: dict[int, Any] = {}
        for name, split in data.splits.items():
            rows[id(ids[name]["query"])] = query_vectors(bm25_token_ids(tokenizer, split["query"]), vocab)
            if id(ids[name]["corpus"]) not in rows:
                rows[id(ids[name]["corpus"])] = statistics.document_vectors(bm25_token_ids(tokenizer, split["corpus"]))
        return cls(statistics, rows)


def term_mask(tokenizer: Any, vocab: int, params: SparseParams) -> "torch.Tensor":
    """1.0 for each vocabulary term a vector may use, 0.0 for suppressed ones (special tokens,
    stopwords), as the parameters say; training and serving apply the same mask."""
    import torch

    keep = torch.ones(vocab)
    if params.suppress_special_tokens:
        keep[[i for i in tokenizer.all_special_ids if i < vocab]] = 0.0
    if params.suppress_stopwords:
        ids = [tokenizer.convert_tokens_to_ids(word) for word in STOPWORDS]
        keep[[i for i in ids if i is not None and i != tokenizer.unk_token_id and i < vocab]] = 0.0
    return keep


def output_term_mask(tokenizer: Any, vocab: int, params: Any, terms: "torch.Tensor | None") -> "torch.Tensor":
    """:func:`term_mask` in the head's column order: entry j is for vocabulary id ``terms[j]`` when
    the head was cut to ``terms`` (None: every id, in vocabulary order)."""
    keep = term_mask(tokenizer, vocab, params)
    return keep if terms is None else keep[terms]


def corpus_terms(splits: dict[str, list[list[int]]]) -> list[int]:
    """The vocabulary ids that occur in any query or passage of one split's token ids, ascending."""
    return sorted({i for sequences in splits.values() for ids in sequences for i in ids})


def restrict_output_terms(model: "torch.nn.Module", terms: list[int]) -> None:
    """Cut the masked-LM decoder (vocabulary x hidden, tied to the input embeddings) to the rows of
    ``terms``, copied into a new untied layer: logits become (batch x tokens x len(terms)). Saved
    models keep this smaller layer; :func:`restrict_output_terms` with the same ``terms`` rebuilds
    the architecture before their weights are loaded."""
    import torch

    decoder = model.get_output_embeddings()
    index = torch.tensor(terms, dtype=torch.long)
    head = torch.nn.Linear(decoder.in_features, len(terms), bias=decoder.bias is not None,
                           dtype=decoder.weight.dtype, device=decoder.weight.device)  # fmt: skip
    with torch.no_grad():
        head.weight.copy_(decoder.weight[index])
        if decoder.bias is not None:
            head.bias.copy_(decoder.bias[index])
    model.config.tie_word_embeddings = False  # never re-tie the cut head to the (full) input embeddings
    model.set_output_embeddings(head)


def splade_pool(model: "torch.nn.Module", input_ids: "torch.Tensor", attention_mask: "torch.Tensor") -> "torch.Tensor":
    """SPLADE's max pooling: per vocabulary term, the max over real tokens of log(1 + ReLU(logit))."""
    import torch

    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits.float()
    weights = torch.log1p(torch.relu(logits)) * attention_mask.unsqueeze(-1).to(logits.dtype)
    return weights.max(dim=1).values


class SparseRuntime(EmbeddingRuntime):
    """SPLADE vectors over the model's vocabulary; everything else as in the dense runtime."""

    task_name = "sparse_encoder"
    card_fields = {"pooling": "splade_max", "activation": "log1p_relu"}

    def __init__(self, params: SparseParams, data: "PairData", spec: "TrialSpec", device: Any, tuned: bool = True):
        import torch

        self._terms: list[int] | None = None  # vocabulary id of each output column; None: every id
        super().__init__(params, data, spec, device, tuned)
        vocab = self._vocab_size()
        self._columns = None if self._terms is None else torch.tensor(self._terms, dtype=torch.long)
        if self._terms is not None:  # serving cuts the head to the same ids
            self.card_fields = {**self.card_fields, "output_terms": self._terms}
        self._keep = output_term_mask(self.tokenizer, vocab, params, self._columns).to(device)  # 1: may use the term
        weights = torch.ones(vocab)
        if params.idf_flops:
            idf = torch.tensor(idf_weights(self._ids["train"]["corpus"], vocab))
            weights = (1.0 / idf) / (1.0 / idf).mean()  # frequent (low-IDF) terms cost more; mean weight 1
        self._flops_weights = (weights if self._columns is None else weights[self._columns]).to(device)
        self._classes = None if params.term_script is None else vocabulary_classes(self.tokenizer, vocab, params.term_script)
        if self._classes is not None:  # 1.0 on the pieces the script penalty weighs, in head column order
            other = (self._classes == OTHER).float()
            self._other = (other if self._columns is None else other[self._columns]).to(device)
        distils = tuned and params.teacher is not None and params.distill_weight > 0
        self._teacher = self._load_teacher(data, spec) if distils else None
        self._bm25: Bm25Part | None = None
        if params.term_weighting == "bm25_residual":
            self._bm25 = Bm25Part.of_data(self.tokenizer, data, self._ids, vocab)
            # the residual's weight: 0 at the start, so the first ranking is BM25's exactly; a model
            # parameter, so the optimizer (and a resumed trial's trainable state) holds it
            self.model.register_parameter("bm25_residual_scale", torch.nn.Parameter(torch.zeros((), device=device)))
            self._scale = self.model.get_parameter("bm25_residual_scale")

    def _load_teacher(self, data: "PairData", spec: "TrialSpec") -> "TeacherEmbeddings":
        """The sweep's teacher embeddings (computed on the driver), or this trial's own when the data
        holds none for this teacher (a runtime built outside a sweep: relative paths read from the
        working directory)."""
        from finesweep.models.resolve import resolve_base_model
        from finesweep.tasks._distillation import teacher_embeddings

        p = self.params
        cached = data.extra.get(TEACHER_CACHE)
        if cached is not None and cached.key == (p.teacher, p.teacher_query_prefix, p.teacher_passage_prefix):
            return cached
        location = resolve_base_model(p.teacher).location
        return teacher_embeddings(p.teacher, location, data.splits["train"], p.teacher_query_prefix,
                                  p.teacher_passage_prefix, spec.trust_remote_code)  # fmt: skip

    def _vocab_size(self) -> int:
        """Width of the masked-LM logits (the model's vocabulary, which may exceed the tokenizer's)."""
        return int(self.model.config.vocab_size)

    def _load_model(self, spec: "TrialSpec", tuned: bool) -> "torch.nn.Module":
        """The base model with a masked-LM head; with LoRA, the head is trained in full (an
        embedding checkpoint such as MiniLM ships none, so it starts untrained)."""
        from transformers import AutoModelForMaskedLM

        from finesweep.models.lora import apply_lora

        model, info = AutoModelForMaskedLM.from_pretrained(
            self.base["location"], trust_remote_code=spec.trust_remote_code, output_loading_info=True
        )
        if self.params.output_vocabulary == "training_corpus":
            # before calibration: e5's full head would make 250,002 logits per token (2 GB a batch)
            self._terms = corpus_terms(self._ids["train"])
            restrict_output_terms(model, self._terms)
        if any(key.startswith(("cls.", "lm_head", "vocab_")) for key in info["missing_keys"]):
            self._calibrate_fresh_head(model)
        if tuned and self.params.finetuning == "lora":
            p = self.params
            head = [name for name in ("cls", "lm_head", "vocab_projector") if hasattr(model, name)]
            model = apply_lora(model, None, p.lora_r, p.lora_alpha, p.lora_dropout, spec.lora_target_modules, head)
        return model

    def _calibrate_fresh_head(self, model: "torch.nn.Module", passages: int = 16, positive_per_token: float = 3.0) -> None:
        """Shift a newly initialised masked-LM head's bias so that about ``positive_per_token`` of
        each token's term logits are positive (1 in 10,000 of MiniLM's 30,522 terms; 1 in 1,800 of a
        head cut to 5,460 pieces): an untrained head otherwise activates nearly every term (measured:
        30,000 of 30,522 for MiniLM on KorQuAD), and InfoNCE over such dense dot products saturates."""
        import torch

        decoder = model.get_output_embeddings()
        if decoder is None or decoder.bias is None:
            return
        quantile = 1.0 - min(0.5, positive_per_token / decoder.out_features)
        sample = self._pad(self._ids["train"]["corpus"][:passages])
        with torch.no_grad():
            logits = model(**sample).logits.float()
            real = logits[sample["attention_mask"].bool()].flatten()
            threshold = torch.quantile(real[torch.randperm(len(real), generator=torch.Generator().manual_seed(0))[:1_000_000]], quantile)
            decoder.bias -= threshold

    def encode(self, model: "torch.nn.Module", input_ids: "torch.Tensor", attention_mask: "torch.Tensor") -> "torch.Tensor":
        """Max over tokens of log(1 + ReLU(MLM logits)): one non-negative weight per vocabulary term."""
        return splade_pool(model, input_ids, attention_mask) * self._keep

    def batch_vectors(self, model: "torch.nn.Module", batch: dict[str, "torch.Tensor"], side: str) -> "torch.Tensor":
        """The SPLADE vectors of one side of a training batch; with ``bm25_residual``, BM25's
        weights of the same texts (untruncated) plus the scaled SPLADE residual, clipped at 0."""
        import torch

        residual = super().batch_vectors(model, batch, side)
        if self._bm25 is None:
            return residual
        key = {"q": "query", "p": "passage", "n": "negative"}[side]
        rows = self._bm25.rows[id(self._ids["train"]["query" if side == "q" else "corpus"])][batch[key].cpu().numpy()]
        if self._columns is not None:  # the head's columns: terms outside the cut head get no training weight
            rows = rows[:, self._columns.numpy()]
        exact = torch.from_numpy(rows.toarray()).to(residual.device)
        return torch.relu(exact + self._scale * residual)

    def write_final_artifacts(self, model: "torch.nn.Module", out_dir: "Path", metrics: dict[str, float]) -> None:
        """As the dense runtime's; with ``bm25_residual``, the card names the weighting and the
        learned scale, and ``bm25_statistics.json`` holds the corpus statistics serving weighs by."""
        import json

        if self._bm25 is not None:
            self.card_fields = {**self.card_fields, "term_weighting": "bm25_residual",
                                "bm25_residual_scale": float(self._scale.detach())}  # fmt: skip
        super().write_final_artifacts(model, out_dir, metrics)
        if self._bm25 is not None:
            (out_dir / "encoder" / BM25_FILE).write_text(json.dumps(self._bm25.statistics.as_json()))

    def regularizer(self, queries: "torch.Tensor", passages: "torch.Tensor") -> "torch.Tensor":
        """FLOPS: the squared mean activation of each term over the batch, summed over the vocabulary."""
        p = self.params

        def flops(vectors: "torch.Tensor") -> "torch.Tensor":
            return (vectors.mean(dim=0).pow(2) * self._flops_weights).sum()

        penalty = p.flops_query_weight * flops(queries) + p.flops_doc_weight * flops(passages)
        if self._classes is not None and p.script_penalty_weight > 0:
            penalty = penalty + p.script_penalty_weight * self.script_penalty(queries, passages)
        return penalty

    def script_penalty(self, queries: "torch.Tensor", passages: "torch.Tensor") -> "torch.Tensor":
        """Mean over the batch's query and passage vectors of their summed weight on pieces of
        another script than ``term_script`` (an L1 penalty on those terms only, as seed 002's
        non-Korean token penalty; unlike FLOPS it does not fade as a term gets rarer)."""
        import torch

        return (torch.cat([queries, passages]) * self._other).sum(dim=1).mean()

    def distillation(self, logits: "torch.Tensor", excluded: "torch.Tensor", batch: dict[str, "torch.Tensor"]) -> "torch.Tensor | float":
        """``distill_weight`` x the distillation loss of the InfoNCE logits against the teacher's
        cosine similarities / ``teacher_temperature`` (see ``_distillation``); 0 without a teacher."""
        from finesweep.tasks._distillation import distillation_loss

        if self._teacher is None:
            return 0.0
        p = self.params
        cosines = self._teacher.scores(batch["query"].cpu(), batch["passage"].cpu()).to(logits.device)
        return p.distill_weight * distillation_loss(logits, cosines / p.teacher_temperature, excluded, p.distillation)

    def _embed(self, model: "torch.nn.Module", sequences: list[list[int]]) -> "scipy.sparse.csr_matrix":
        """SPLADE vectors of all ``sequences`` as CSR rows (input order), each worker encoding a
        shard: only one batch is ever dense (batch x vocabulary); the rest keeps non-zero terms only,
        as serving's inverted index does."""
        import numpy as np
        import scipy.sparse

        from finesweep.training.loop import gather_lists, shard_indices

        indices = sorted(shard_indices(len(sequences)), key=lambda i: len(sequences[i]))  # little padding
        rows: list[tuple[int, list[int], list[float]]] = []
        for start in range(0, len(indices), self.params.eval_batch_size):
            chunk = indices[start : start + self.params.eval_batch_size]
            batch = {k: v.to(self.device) for k, v in self._pad([sequences[i] for i in chunk]).items()}
            vectors = self.encode(model, batch["input_ids"], batch["attention_mask"]).cpu()
            for i, vector in zip(chunk, vectors):
                terms = vector.nonzero().squeeze(1)
                ids = terms if self._columns is None else self._columns[terms]  # head column -> vocabulary id
                rows.append((i, ids.tolist(), vector[terms].tolist()))
        ordered = sorted(gather_lists(rows))
        lengths = [len(terms) for _, terms, _ in ordered]
        residual = scipy.sparse.csr_matrix(
            (np.array([w for _, _, weights in ordered for w in weights], dtype=np.float32),
             np.array([t for _, terms, _ in ordered for t in terms], dtype=np.int64),
             np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)),
            shape=(len(ordered), self._vocab_size()),
        )  # fmt: skip
        if self._bm25 is None:
            return residual
        return combine(self._bm25.rows[id(sequences)], residual, float(self._scale.detach()))

    def scores(self, queries: Any, corpus: Any) -> "torch.Tensor":
        """Sparse x sparse inner products; only the result (queries x passages) is dense."""
        import torch

        return torch.from_numpy((queries @ corpus.T).toarray()).float()

    def representation_metrics(self, queries: Any, corpus: Any, prefix: str) -> dict[str, float]:
        """Mean non-zero terms per query and per passage vector; with ``term_script``, the share of
        the activated term weight of all the split's query and passage vectors together that lies on
        pieces of that script, neutral pieces left out (:func:`script_term_share`)."""
        import scipy.sparse

        metrics = {
            f"{prefix}query_terms": float(queries.getnnz(axis=1).mean()),
            f"{prefix}doc_terms": float(corpus.getnnz(axis=1).mean()),
        }
        if self._classes is not None:
            metrics[f"{prefix}script_term_share"] = script_term_share(scipy.sparse.vstack([queries, corpus]).tocsr(), self._classes)
        return metrics


TASK = SparseEncoderTask()
