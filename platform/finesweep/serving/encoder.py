"""A trained encoder: dense vectors (contrastive embedding) or SPLADE term weights (sparse encoder),
and exact search of a corpus through an index built once and cached.

Dense search is the inner product of L2-normalised vectors (cosine), exact. Sparse vectors are kept
as scipy CSR matrices, built batch by batch from their non-zero terms, so a corpus is an inverted
index (terms x passages) and never a dense vocabulary-wide array: 100,000 passages of about 100
terms each take about 120 MB (float32 weight + int32 column per term), where dense 30,522-wide
vectors would take 12 GB.

Queries and passages are encoded as in training: the same prefixes, token lengths, pooling and term
mask, read from the model card.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from finesweep.errors import ModelError
from finesweep.serving.classifier import CARD, base_location, read_card
from finesweep.serving.corpus import Corpus

if TYPE_CHECKING:
    import numpy as np
    import scipy.sparse

ENCODER_TASKS = ("contrastive_embedding", "sparse_encoder")
_WEIGHT_FILES = ("adapter_model.safetensors", "model.safetensors")
_QUERY_CHUNK = 64  # queries scored at once: 64 x 100,000 passages of float32 scores is 25 MB


@dataclass(frozen=True)
class Hit:
    """One ranked passage: its id, score (inner product) and text."""

    id: str
    score: float
    text: str


def index_cache_dir() -> Path:
    """Where corpus indexes are kept: ``indexes`` in the settings' cache folder
    (:func:`finesweep.settings.in_use`; $FINESWEEP_CACHE_DIR from the CLI, else ~/.cache/finesweep).
    A served model is built through its task's ``served_by`` hook, whose signature carries no settings."""
    from finesweep.settings import in_use

    return in_use().cache_root() / "indexes"


def model_version(model_dir: Path) -> str:
    """A content hash of the model: its card and weight files (a changed model never reuses an index)."""
    from finesweep.files import sha256_of

    digest = hashlib.sha256((model_dir / CARD).read_bytes())
    for name in _WEIGHT_FILES:
        if (model_dir / name).is_file():
            digest.update(name.encode() + sha256_of(model_dir / name).encode())
    return digest.hexdigest()


class TextEncoder:
    """Encodes queries and passages, and searches corpora, in batches on CPU or GPU."""

    def __init__(self, model_dir: str | Path, device: str | None = None, batch_size: int = 64,
                 cache_dir: Path | None = None):  # fmt: skip
        import numpy as np
        import torch
        from transformers import AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
        self.model_dir = Path(model_dir)
        self.card = read_card(self.model_dir, ("base_model",))
        self.task = str(self.card.get("task"))
        if self.task not in ENCODER_TASKS:
            raise ModelError(f"{self.model_dir}: a {self.task} model, not an encoder ({', '.join(ENCODER_TASKS)})")
        self.sparse = self.task == "sparse_encoder"
        self.params = SimpleNamespace(**{"query_prefix": "", "passage_prefix": "", "max_length": 128,
                                         "max_query_length": 64, "suppress_special_tokens": True,
                                         "suppress_stopwords": False, **self.card.get("params", {})})  # fmt: skip
        self.batch_size = batch_size
        self.cache_dir = cache_dir or index_cache_dir()
        self.version = model_version(self.model_dir)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        terms = self.card.get("output_terms")  # a head cut to these vocabulary ids (sparse encoders)
        self._columns = None if terms is None else np.asarray(terms, dtype=np.int64)
        self.model = self._load_model().to(self.device).eval()
        self._keep = None
        if self.sparse:
            from finesweep.tasks.sparse_encoder import output_term_mask

            columns = None if self._columns is None else torch.from_numpy(self._columns)
            self._keep = output_term_mask(self.tokenizer, int(self.model.config.vocab_size), self.params, columns).to(self.device)
        self._bm25 = self._read_bm25() if self.card.get("term_weighting") == "bm25_residual" else None

    def _read_bm25(self) -> tuple[Any, float]:
        """A ``bm25_residual`` model's corpus statistics and learned residual scale."""
        import json

        from finesweep.data.bm25 import Bm25Statistics
        from finesweep.tasks.sparse_encoder import BM25_FILE

        path = self.model_dir / BM25_FILE
        if not path.is_file():
            raise ModelError(f"{self.model_dir}: a bm25_residual sparse encoder without its {BM25_FILE}")
        return Bm25Statistics.from_json(json.loads(path.read_text())), float(self.card.get("bm25_residual_scale", 0.0))

    def _load_model(self) -> Any:
        """The base encoder with the trained adapter merged in, or the fully fine-tuned weights."""
        from transformers import AutoModel, AutoModelForMaskedLM

        loader = AutoModelForMaskedLM if self.sparse else AutoModel
        if self.card.get("finetuning") != "lora":
            if self._columns is None:
                return loader.from_pretrained(self.model_dir, use_safetensors=True)
            return self._load_cut_head_model(loader)
        from peft import PeftModel

        base = loader.from_pretrained(base_location(self.card["base_model"]))
        if self._columns is not None:
            from finesweep.tasks.sparse_encoder import restrict_output_terms

            restrict_output_terms(base, self._columns.tolist())  # the adapter's head has these rows
        with warnings.catch_warnings():
            # merging a trained MLM head unties it from the input embeddings, as intended
            warnings.filterwarnings("ignore", message=".*no longer tied after merging.*", category=UserWarning)
            return PeftModel.from_pretrained(base, self.model_dir).merge_and_unload()

    def _load_cut_head_model(self, loader: Any) -> Any:
        """A fully fine-tuned sparse encoder whose head was cut to ``output_terms``: its saved head
        does not fit the vocabulary-wide architecture, so the architecture is built from the
        folder's config (no weights read), the head cut, then the weights read once."""
        from safetensors.torch import load_file
        from transformers import AutoConfig

        from finesweep.tasks.sparse_encoder import restrict_output_terms

        weights = self.model_dir / "model.safetensors"
        if not weights.is_file():
            raise ModelError(f"{self.model_dir}: no model.safetensors (a sharded sparse encoder is not supported)")
        model = loader.from_config(AutoConfig.from_pretrained(self.model_dir))
        restrict_output_terms(model, self._columns.tolist())
        # strict=False: a parameter shared under two names (BERT's head bias) is saved once
        state = load_file(str(weights))
        state.pop("bm25_residual_scale", None)  # a bm25_residual model's scale: read from the card
        result = model.load_state_dict(state, strict=False)
        if result.unexpected_keys:
            raise ModelError(f"{self.model_dir}: weights the model lacks: {result.unexpected_keys[:5]}")
        return model

    # -- vectors -----------------------------------------------------------------------------------

    def encode(self, texts: list[str], kind: str = "passage") -> "np.ndarray | scipy.sparse.csr_matrix":
        """Vectors of ``texts`` as queries or passages: a float32 array (n x hidden) for a dense
        encoder, a CSR matrix (n x vocabulary) of non-negative term weights for a sparse one."""
        import numpy as np
        import scipy.sparse
        import torch

        if kind not in ("query", "passage"):
            raise ValueError(f"kind must be 'query' or 'passage' (got {kind!r})")
        prefix = self.params.query_prefix if kind == "query" else self.params.passage_prefix
        length = self.params.max_query_length if kind == "query" else self.params.max_length
        parts = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = self.tokenizer([prefix + str(t) for t in texts[start : start + self.batch_size]],
                                       truncation=True, max_length=length, padding=True, return_tensors="pt").to(self.device)  # fmt: skip
                vectors = self._pool(batch["input_ids"], batch["attention_mask"]).cpu().numpy().astype(np.float32)
                # sparse: only the batch is ever dense (batch x vocabulary); the rest is CSR
                parts.append(self._term_rows(vectors) if self.sparse else vectors)
        if self.sparse:
            width = int(self.model.config.vocab_size)
            rows = scipy.sparse.vstack(parts, format="csr") if parts else scipy.sparse.csr_matrix((0, width), dtype=np.float32)
            return rows if self._bm25 is None else self._with_bm25(rows, texts, kind)
        return np.concatenate(parts) if parts else np.zeros((0, int(self.model.config.hidden_size)), dtype=np.float32)

    def _with_bm25(self, residual: "scipy.sparse.csr_matrix", texts: list[str], kind: str) -> "scipy.sparse.csr_matrix":
        """BM25's exact weights of the whole texts (the training corpus's statistics; counts for a
        query) plus the learned scale x the SPLADE rows, clipped at 0, as in training."""
        from finesweep.data.bm25 import query_vectors
        from finesweep.tasks.sparse_encoder import bm25_token_ids, combine

        statistics, scale = self._bm25
        ids = bm25_token_ids(self.tokenizer, texts)
        exact = query_vectors(ids, residual.shape[1]) if kind == "query" else statistics.document_vectors(ids)
        return combine(exact, residual, scale)

    def _term_rows(self, vectors: "np.ndarray") -> "scipy.sparse.csr_matrix":
        """A dense batch of head outputs as CSR rows over the whole vocabulary (a cut head's column
        j is vocabulary id ``output_terms[j]``)."""
        import scipy.sparse

        rows = scipy.sparse.csr_matrix(vectors)
        if self._columns is None:
            return rows
        shape = (rows.shape[0], int(self.model.config.vocab_size))
        return scipy.sparse.csr_matrix((rows.data, self._columns[rows.indices], rows.indptr), shape=shape)

    def _pool(self, input_ids: Any, attention_mask: Any) -> Any:
        if self.sparse:
            from finesweep.tasks.sparse_encoder import splade_pool

            return splade_pool(self.model, input_ids, attention_mask) * self._keep
        from finesweep.tasks.contrastive_embedding import mean_pool

        return mean_pool(self.model, input_ids, attention_mask)

    def describe(self, texts: list[str], kind: str = "query", top_terms: int = 20) -> list[dict[str, Any]]:
        """What ``predict`` prints per text: ``vector`` (dense) or ``terms`` (sparse: the
        ``top_terms`` heaviest vocabulary pieces with their weights, heaviest first)."""
        vectors = self.encode(texts, kind)
        if not self.sparse:
            return [{"text": t, "vector": [float(x) for x in row]} for t, row in zip(texts, vectors)]
        out = []
        for text, row in zip(texts, vectors):
            order = row.data.argsort()[::-1][:top_terms]
            pieces = self.tokenizer.convert_ids_to_tokens([int(row.indices[i]) for i in order])
            out.append({"text": text, "terms": {p: round(float(row.data[i]), 4) for p, i in zip(pieces, order)}})
        return out

    # -- search ------------------------------------------------------------------------------------

    def index(self, corpus: Corpus) -> "np.ndarray | scipy.sparse.csr_matrix":
        """The corpus's passage vectors: read from the cache when this model already indexed this
        exact corpus, else encoded and cached (key: model content hash + corpus checksum)."""
        path = self._index_path(corpus)
        cached = _read_index(path, self.sparse, len(corpus))
        if cached is not None:
            return cached
        vectors = self.encode(list(corpus.texts), "passage")
        _write_index(path, vectors, self.sparse)
        return vectors

    def _index_path(self, corpus: Corpus) -> Path:
        key = hashlib.sha256(f"{self.version}\n{corpus.checksum}".encode()).hexdigest()[:40]
        return self.cache_dir / f"{key}.{'npz' if self.sparse else 'npy'}"

    def search(self, queries: list[str], corpus: Corpus | list[str], top_k: int = 10) -> list[list[Hit]]:
        """The ``top_k`` passages of ``corpus`` for each query, best first (exact inner product;
        ties keep corpus order)."""
        import numpy as np

        if not isinstance(corpus, Corpus):
            corpus = Corpus.from_texts(corpus)
        passages = self.index(corpus)
        encoded = self.encode(list(queries), "query")
        k = max(0, min(top_k, len(corpus)))
        results: list[list[Hit]] = []
        for start in range(0, len(queries), _QUERY_CHUNK):
            block = encoded[start : start + _QUERY_CHUNK]
            scores = (block @ passages.T).toarray() if self.sparse else block @ passages.T
            for row in np.asarray(scores, dtype=np.float64):
                best = np.argsort(-row, kind="stable")[:k]
                results.append([Hit(corpus.ids[i], float(row[i]), corpus.texts[i]) for i in best])
        return results


def _read_index(path: Path, sparse: bool, rows: int) -> Any:
    """A cached index, or None when there is none (or it does not fit the corpus: rebuilt)."""
    import numpy as np
    import scipy.sparse

    if not path.is_file():
        return None
    try:
        # allow_pickle=False: an index file never runs code, whoever wrote the cache
        vectors = scipy.sparse.load_npz(path) if sparse else np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if vectors.shape[0] != rows:
        return None
    return vectors.tocsr() if sparse else vectors


def _write_index(path: Path, vectors: Any, sparse: bool) -> None:
    """Write the index next to its final name, then rename: readers never see half a file."""
    import numpy as np
    import scipy.sparse

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    with partial.open("wb") as handle:
        if sparse:
            scipy.sparse.save_npz(handle, vectors, compressed=False)
        else:
            np.save(handle, vectors, allow_pickle=False)
    os.replace(partial, path)
