"""Which writing system each vocabulary piece belongs to, and how much of a sparse encoder's
activated term weight lands on pieces of one script (seed 002's Korean token share, V28a).

A piece is classified by the letters it holds, as stored in the vocabulary (WordPiece's ``##`` and
SentencePiece's ``▁`` are not letters, so they are ignored):

- *of the script*: it holds at least one letter and every letter is of the script;
- *neutral*: it holds no letter at all (digits, punctuation, symbols, a bare ``▁``), or it is a
  special token. Neutral pieces are never penalised and count on neither side of the share: a
  year or a comma in a Korean passage is no leak into another language;
- *other*: any other piece, i.e. one holding a letter of another script (Latin, CJK ideographs,
  Cyrillic, ...), mixed pieces included.

Byte-level BPE vocabularies (GPT-2 style, whose pieces are bytes mapped to Latin-1 letters) are
not decoded: on such a vocabulary every Hangul byte piece would read as *other*.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import scipy.sparse
    import torch

# Code-point ranges of each supported script (inclusive). Hangul: the precomposed syllables
# (U+AC00-U+D7A3), the conjoining Jamo (U+1100-U+11FF), the compatibility Jamo (U+3130-U+318F),
# and the extended Jamo blocks A (U+A960-U+A97F) and B (U+D7B0-U+D7FF).
SCRIPT_RANGES: dict[str, tuple[tuple[int, int], ...]] = {
    "hangul": ((0xAC00, 0xD7A3), (0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xD7B0, 0xD7FF)),
}
SCRIPT, NEUTRAL, OTHER = 1, 0, -1


def piece_class(piece: str, script: str) -> int:
    """:data:`SCRIPT`, :data:`NEUTRAL` or :data:`OTHER` for one vocabulary piece (see the module)."""
    ranges = SCRIPT_RANGES[script]
    letters = [ord(c) for c in piece if unicodedata.category(c).startswith("L")]
    if not letters:
        return NEUTRAL
    return SCRIPT if all(any(lo <= c <= hi for lo, hi in ranges) for c in letters) else OTHER


def vocabulary_classes(tokenizer: Any, vocab: int, script: str) -> "torch.Tensor":
    """The class of every vocabulary id below ``vocab`` (int8): ids past the tokenizer's pieces and
    special tokens are neutral."""
    import torch

    classes = torch.zeros(vocab, dtype=torch.int8)
    pieces = tokenizer.convert_ids_to_tokens(list(range(min(vocab, len(tokenizer)))))
    for i, piece in enumerate(pieces):
        if piece is not None:
            classes[i] = piece_class(piece, script)
    classes[[i for i in tokenizer.all_special_ids if i < vocab]] = NEUTRAL
    return classes


def script_term_share(vectors: "scipy.sparse.csr_matrix", classes: "torch.Tensor") -> float:
    """Activated term weight on pieces of the script / activated term weight on script and other
    pieces, summed over all rows of ``vectors`` (columns are vocabulary ids). 1.0 when no lettered
    piece is active at all (nothing leaked)."""
    import numpy as np

    column_class = classes.numpy()[vectors.indices]
    weights = np.abs(vectors.data)
    script, other = float(weights[column_class == SCRIPT].sum()), float(weights[column_class == OTHER].sum())
    return script / (script + other) if script + other > 0 else 1.0
