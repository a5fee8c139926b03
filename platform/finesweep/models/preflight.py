"""Checks on a model folder's files before anything loads it (the base model, a sparse encoder's
teacher): weights that can be read, a ``config.json`` that is a model config, tokenizer files that
are JSON, and a ``max_length`` the model's position embeddings can hold.

Only ``config.json``, the tokenizer's JSON files and the first bytes of the weights are read (no
torch, no transformers), so ``finesweep validate`` catches a truncated download or an impossible
length at once instead of every trial failing after Ray started.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

_HEADER_LIMIT = 100 * 2**20  # bytes: safetensors caps its JSON header at 100 MB
_POSITION_KEYS = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length")
# RoBERTa-family models offset positions by the padding index: 514 positions hold 512 tokens
_POSITION_OFFSET = {"roberta": 2, "xlm-roberta": 2, "camembert": 2, "bart": 2}
# a tokenizer's files that transformers parses as JSON objects when it loads the tokenizer
_TOKENIZER_JSON = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json")


def model_config(folder: Path) -> dict | None:
    """The parsed ``config.json`` of a local model folder, or None when it cannot be read."""
    try:
        data = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def safetensors_problem(path: Path) -> str | None:
    """Why ``path`` is not a readable safetensors file (its header is read, not its tensors), or None."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                return f"{path} is truncated ({size} bytes)"
            (length,) = struct.unpack("<Q", prefix)  # little-endian u64: bytes of the JSON header
            if length > _HEADER_LIMIT or 8 + length > size:
                return f"{path} is not a valid safetensors file (header of {length} bytes in a {size}-byte file)"
            header = json.loads(handle.read(length))
    except OSError as exc:
        return f"{path} cannot be read ({exc.strerror or exc})"
    except (ValueError, UnicodeDecodeError):
        return f"{path} is not a valid safetensors file (its header is not JSON)"
    if not isinstance(header, dict):
        return f"{path} is not a valid safetensors file"
    end = max((entry["data_offsets"][1] for key, entry in header.items()
               if key != "__metadata__" and isinstance(entry, dict) and "data_offsets" in entry), default=0)  # fmt: skip
    if 8 + length + end > size:
        return f"{path} is truncated: its header describes {8 + length + end} bytes, the file has {size}"
    return None


def weights_problems(folder: Path) -> list[str]:
    """Problems with the weight files of a local model folder (none when there are no safetensors)."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return [f"{index} is not a valid shard index"]
        return [p for name in shards for p in [safetensors_problem(folder / name)] if p]
    single = folder / "model.safetensors"
    if single.exists():
        problem = safetensors_problem(single)
        return [problem] if problem else []
    return []


def config_problem(folder: Path) -> str | None:
    """Why ``config.json`` of a local model folder is no model config transformers can build, or None."""
    path = folder / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return f"{path} cannot be read ({exc.strerror or exc})"
    except ValueError:  # UnicodeDecodeError included
        return f"{path} is not readable JSON"
    if not isinstance(data, dict) or not isinstance(data.get("model_type"), str) or not data["model_type"]:
        return f"{path} is not a model config (it names no model_type)"
    return None


def tokenizer_problems(folder: Path) -> list[str]:
    """The tokenizer files of a local model folder that are not JSON objects (transformers refuses to
    load such a tokenizer)."""
    problems = []
    for name in _TOKENIZER_JSON:
        path = folder / name
        if not path.exists():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            problems.append(f"{path} cannot be read ({exc.strerror or exc}); the tokenizer cannot load")
            continue
        except ValueError:
            data = None
        if not isinstance(data, dict):
            problems.append(f"{path} is not a JSON object; the tokenizer cannot load")
    return problems


def model_folder_problems(folder: Path) -> list[str]:
    """Every problem of a local model folder found without loading it: unreadable weights, a
    ``config.json`` that is no model config, tokenizer files that are not JSON. The same check for
    ``model.base`` and ``train.teacher``."""
    problems = weights_problems(folder)
    problem = config_problem(folder)
    return problems + ([problem] if problem else []) + tokenizer_problems(folder)


def max_positions(config: dict) -> int | None:
    """The most tokens the model's position embeddings hold, when its config says."""
    for key in _POSITION_KEYS:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value - _POSITION_OFFSET.get(str(config.get("model_type", "")), 0)
    return None
