"""BM25 over token ids: the ``bm25s`` library's Lucene variant written as sparse vectors.

A document's vector holds, per vocabulary id t, ``idf(t) x tf / (tf + k1 x (1 - b + b x dl / avgdl))``
(Lucene's BM25: ``idf(t) = log(1 + (N - df + 0.5) / (df + 0.5))``, no ``k1 + 1`` factor); a query's
vector holds the count of each of its tokens. Their inner product is the BM25 score ``bm25s.BM25``
gives, so a BM25 ranking is a sparse dot product that an inverted index serves, and a learned
sparse encoder can start from it exactly (``tasks.sparse_encoder``'s ``bm25_residual`` weighting).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import scipy.sparse

K1, B = 1.5, 0.75  # bm25s.BM25's defaults (and Lucene's k1 = 1.2 aside, the usual ones)


@dataclass(frozen=True)
class Bm25Statistics:
    """The corpus statistics BM25 weighs documents by: IDF per vocabulary id and the mean length."""

    idf: "np.ndarray"  # float32, one entry per vocabulary id; ids no document holds get the maximum
    average_length: float  # tokens per document
    k1: float = K1
    b: float = B

    @classmethod
    def of_corpus(cls, documents: list[list[int]], vocab_size: int) -> "Bm25Statistics":
        """Statistics of ``documents`` (token ids, untruncated) over a vocabulary of ``vocab_size``."""
        import numpy as np

        frequency = np.zeros(vocab_size, dtype=np.float64)
        for ids in documents:
            frequency[list(set(ids))] += 1
        count = len(documents)
        idf = np.log(1.0 + (count - frequency + 0.5) / (frequency + 0.5))
        average = sum(len(ids) for ids in documents) / max(1, count)
        return cls(idf.astype(np.float32), float(average))

    def document_vectors(self, documents: list[list[int]]) -> "scipy.sparse.csr_matrix":
        """One CSR row per document: its BM25 term weights (see the module)."""
        rows = []
        for ids in documents:
            counts = Counter(ids)
            norm = self.k1 * (1.0 - self.b + self.b * len(ids) / max(self.average_length, 1e-9))
            rows.append({t: float(self.idf[t]) * tf / (tf + norm) for t, tf in counts.items()})
        return _csr(rows, len(self.idf))

    def as_json(self) -> dict[str, Any]:
        """What a served model stores (``bm25_statistics.json``) to weigh new passages alike."""
        return {"idf": [round(float(x), 6) for x in self.idf], "average_length": self.average_length,
                "k1": self.k1, "b": self.b}  # fmt: skip

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "Bm25Statistics":
        import numpy as np

        return cls(np.asarray(raw["idf"], dtype=np.float32), float(raw["average_length"]), float(raw["k1"]), float(raw["b"]))


def query_vectors(queries: list[list[int]], vocab_size: int) -> "scipy.sparse.csr_matrix":
    """One CSR row per query: the count of each token (bm25s sums a repeated query token twice)."""
    return _csr([{t: float(n) for t, n in Counter(ids).items()} for ids in queries], vocab_size)


def _csr(rows: list[dict[int, float]], width: int) -> "scipy.sparse.csr_matrix":
    import numpy as np
    import scipy.sparse

    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    indices = np.array([t for r in rows for t in r], dtype=np.int64)
    data = np.array([w for r in rows for w in r.values()], dtype=np.float32)
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=(len(rows), width))
