"""Ways to damage a copied model folder, shared by the preflight tests of model.base and train.teacher."""

from __future__ import annotations

from pathlib import Path


def truncate(model: Path) -> None:
    weights = model / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])


def garbage_header(model: Path) -> None:
    (model / "model.safetensors").write_bytes(b"\xff" * 8 + b"garbage" * 100)


def config_not_json(model: Path) -> None:
    (model / "config.json").write_text("{not json", encoding="utf-8")
