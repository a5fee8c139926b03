"""Long documents cut into overlapping passages for ``finesweep search``.

A window of ``size`` characters (or tokens of the model's tokenizer) moves by ``size - overlap``;
the last window ends at the document's end: a plain sliding window (for an 88,000-character text,
512 characters with 50 of overlap make 191 passages), with no separator rules: every passage is
exactly ``size`` long but the last. The overlap may be at most half the size, and a corpus may make
at most ``MAX_PASSAGES`` passages, so that a typo such as ``--chunk-chars 5 --overlap 4`` is refused
at once instead of embedding 30,000 passages of a 30 KB file. A passage's id names its document and its character
span, ``<document id>:<start>-<end>`` (end exclusive), so a hit points back into the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from finesweep.errors import FinesweepError
from finesweep.serving.corpus import Corpus

# Above this many passages the exact search's embedding pass takes tens of minutes on a CPU (about
# 1,000 short passages a second for a MiniLM) and its index hundreds of MB; a real corpus this large
# wants an approximate index, not this command.
MAX_PASSAGES = 200_000


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
    elif overlap is not None and overlap > size // 2:
        # a window moving by less than half its size puts each unit in 3 or more passages
        problems.append(f"--overlap: at most half the chunk size {size}, {size // 2} (got {overlap}: each window "
                        f"would move by {size - overlap}, putting every character in {-(-size // (size - overlap))} passages)")
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


def window_count(length: int, size: int, overlap: int) -> int:
    """How many windows ``windows(length, size, overlap)`` makes, without making them."""
    if length <= size:
        return 1
    return 1 + -(-(length - size) // (size - overlap))  # ceiling division


def check_passage_count(documents: Corpus, chunking: Chunking) -> None:
    """Refuse a character chunking that would cut ``documents`` into more than MAX_PASSAGES passages
    (counted before any model loads; token windows are counted as they are cut)."""
    if chunking.unit != "chars":
        return
    count = sum(window_count(len(text), chunking.size, chunking.overlap) for text in documents.texts)
    if count > MAX_PASSAGES:
        raise _too_many(count, chunking)


def _too_many(count: int, chunking: Chunking) -> FinesweepError:
    """The error for a chunking that makes ``count`` passages, more than MAX_PASSAGES."""
    option = f"--chunk-{chunking.unit} {chunking.size} --overlap {chunking.overlap}"
    return FinesweepError(f"{option}: would cut the corpus into {count:,} passages, more than {MAX_PASSAGES:,}; "
                          f"use larger chunks or less overlap")


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
        if len(ids) + len(spans) > MAX_PASSAGES:
            raise _too_many(len(ids) + len(spans), chunking)
        for start, end in spans:
            ids.append(f"{identifier}:{start}-{end}")
            texts.append(text[start:end])
    return Corpus(tuple(ids), tuple(texts), f"{documents.checksum}:chunks={chunking.describe()}")


def span_of(passage_id: str) -> tuple[str, int, int]:
    """(document id, start, end) of a chunked passage's id."""
    document, _, span = passage_id.rpartition(":")
    start, _, end = span.partition("-")
    return document, int(start), int(end)
