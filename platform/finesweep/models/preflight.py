"""Checks on a base model's files before any trial loads it: weights that can be read, and a
``max_length`` the model's position embeddings can hold.

Only ``config.json`` and the first bytes of the weights are read (no torch, no transformers), so
``finesweep validate`` catches a truncated download or an impossible length in milliseconds
instead of every trial failing after Ray started.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

_HEADER_LIMIT = 100 * 2**20  # bytes: safetensors caps its JSON header at 100 MB
_POSITION_KEYS = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length")
# RoBERTa-family models offset positions by the padding index: 514 positions hold 512 tokens
_POSITION_OFFSET = {"roberta": 2, "xlm-roberta": 2, "camembert": 2, "bart": 2}


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


def max_positions(config: dict) -> int | None:
    """The most tokens the model's position embeddings hold, when its config says."""
    for key in _POSITION_KEYS:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value - _POSITION_OFFSET.get(str(config.get("model_type", "")), 0)
    return None
