"""Long documents cut into overlapping passages for ``finesweep search``.

A window of ``size`` characters (or tokens of the model's tokenizer) moves by ``size - overlap``;
the last window ends at the document's end. This is the plain sliding window seed 003 searches
its 88,000-character wiki text with (512 characters, 50 of overlap), with no separator rules: every
passage is exactly ``size`` long but the last. A passage's id names its document and its character
span, ``<document id>:<start>-<end>`` (end exclusive), so a hit points back into the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from finesweep.errors import FinesweepError
from finesweep.serving.corpus import Corpus


@dataclass(frozen=True)
class Chunking:
    """How documents are cut: ``size`` and ``overlap`` in characters or in tokens."""

    size: int
    overlap: int
    unit: Literal["chars", "tokens"] = "chars"

    def describe(self) -> str:
        """``chars512/50``: part of the index cache's key."""
        return f"{self.unit}{self.size}/{self.overlap}"


def chunking_from_options(chars: int | None, tokens: int | None, overlap: int | None) -> Chunking | None:
    """The chunking ``--chunk-chars``/``--chunk-tokens``/``--overlap`` ask for (None: passages as
    read); every problem with them at once, as one FinesweepError."""
    problems = []
    if chars is not None and tokens is not None:
        problems.append("--chunk-chars and --chunk-tokens: give one of them")
    size = chars if chars is not None else tokens
    if size is None:
        if overlap is not None:
            problems.append("--overlap: needs --chunk-chars or --chunk-tokens")
    elif size < 1:
        problems.append(f"--chunk-{'chars' if chars is not None else 'tokens'}: must be at least 1 (got {size})")
    elif overlap is not None and not 0 <= overlap < size:
        problems.append(f"--overlap: must be at least 0 and less than the chunk size {size} (got {overlap})")
    if problems:
        raise FinesweepError("; ".join(problems))
    if size is None:
        return None
    return Chunking(size, overlap or 0, "chars" if chars is not None else "tokens")


def windows(length: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """(start, end) of each window over ``length`` units: ``size`` long, moving by ``size - overlap``;
    the last one ends at ``length``."""
    step, spans, start = size - overlap, [], 0
    while True:
        end = min(start + size, length)
        spans.append((start, end))
        if end >= length:
            return spans
        start += step


def _token_spans(tokenizer: Any, text: str, chunking: Chunking) -> list[tuple[int, int]]:
    """Character spans of windows of ``chunking.size`` tokens (a fast tokenizer's offsets)."""
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    if not offsets:
        return [(0, len(text))]
    return [(offsets[start][0], offsets[end - 1][1]) for start, end in windows(len(offsets), chunking.size, chunking.overlap)]


def chunk_corpus(documents: Corpus, chunking: Chunking, tokenizer: Any = None) -> Corpus:
    """Every document cut into passages named ``<id>:<start>-<end>``; the checksum adds the chunking,
    so a cached index of other passages is never reused."""
    ids, texts = [], []
    for identifier, text in zip(documents.ids, documents.texts):
        if chunking.unit == "tokens":
            spans = _token_spans(tokenizer, text, chunking)
        else:
            spans = windows(len(text), chunking.size, chunking.overlap)
        for start, end in spans:
            ids.append(f"{identifier}:{start}-{end}")
            texts.append(text[start:end])
    return Corpus(tuple(ids), tuple(texts), f"{documents.checksum}:chunks={chunking.describe()}")


def span_of(passage_id: str) -> tuple[str, int, int]:
    """(document id, start, end) of a chunked passage's id."""
    document, _, span = passage_id.rpartition(":")
    start, _, end = span.partition("-")
    return document, int(start), int(end)
