"""What code and libraries a sweep ran with: finesweep's version and git commit, the library and
CUDA versions, the device. Recorded as tags on every parent run, and pinned in every logged model's
requirements, so ``mlflow models serve --env-manager virtualenv`` rebuilds what trained it."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path

from finesweep.tracking.schema import TAG_DEVICE, version_tag

# the libraries whose behaviour a sweep depends on; their versions are recorded and pinned
LIBRARIES = ("torch", "transformers", "peft", "ray", "optuna", "mlflow", "pydantic", "scikit-learn", "safetensors")
SERVING = ("torch", "transformers", "peft", "mlflow", "scikit-learn", "safetensors", "pandas")  # what a served model imports


def git_commit(folder: Path) -> str | None:
    """The commit checked out in ``folder``'s repository, or None outside git."""
    try:
        out = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def code_folder() -> Path:
    """The folder of the finesweep package that runs."""
    import finesweep

    return Path(finesweep.__file__).resolve().parent


def version_of(distribution: str) -> str | None:
    """An installed distribution's version, or None."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def provenance_tags() -> dict[str, str]:
    """``finesweep.version.*`` tags: finesweep (and its git commit when it runs from a checkout),
    Python, each library, CUDA, and the device the driver sees."""
    import torch

    tags = {version_tag("finesweep"): version_of("finesweep") or "unknown",
            version_tag("python"): platform.python_version()}  # fmt: skip
    commit = git_commit(code_folder())
    if commit:
        tags[version_tag("finesweep_commit")] = commit
    tags.update({version_tag(name): version_of(name) or "not installed" for name in LIBRARIES})
    tags[version_tag("cuda")] = torch.version.cuda or "none (CPU build)"
    tags[TAG_DEVICE] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu ({platform.machine()})"
    return tags


def pinned_requirements() -> list[str]:
    """pip requirements of a logged model: finesweep and what serving imports, at the versions that
    trained it (``name==version``; a library that is not installed is left out)."""
    pins = [f"finesweep=={version_of('finesweep')}"] if version_of("finesweep") else ["finesweep"]
    return pins + [f"{name}=={version}" for name in SERVING if (version := version_of(name))]
