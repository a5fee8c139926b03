"""Where ``finesweep train --output`` may put a model folder, and how it replaces one.

The rule (docs/security.md): finesweep never deletes what it did not write. An existing ``--output``
is replaced only when it is a model folder that ``finesweep train`` wrote, every file in it is one
that ``train`` recorded in the folder's manifest, and the user asked for it with ``--overwrite``.
An empty folder is used as it is (there is nothing to lose); anything else is refused before the
data is read or a model is loaded.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from finesweep.errors import FinesweepError
from finesweep.redact import printable

# The manifest ``finesweep train`` writes into each model folder it fills: the files it copied,
# so that a later ``--overwrite`` can tell its own folder from one a user put files into.
MANIFEST = ".finesweep-train.json"
_WRITER = "finesweep train"


class OutputRefused(FinesweepError):
    """``--output`` names a folder that finesweep may not replace (or not without ``--overwrite``)."""


def check_output(output: Path, overwrite: bool) -> None:
    """Raise :class:`OutputRefused` unless ``output`` may receive the model folder as asked."""
    problem = output_problem(output, overwrite)
    if problem is not None:
        raise OutputRefused(f"--output {printable(str(output))}: {problem}")


def output_problem(output: Path, overwrite: bool) -> str | None:
    """Why ``output`` may not receive the model folder, or None when it may."""
    if output.is_symlink():
        return "is a symbolic link; name the folder itself"  # rmtree never follows one, and neither do we
    if not output.exists():
        return None
    if not output.is_dir():
        return "is a file, not a folder; finesweep never replaces a file it did not write"
    if _holds_the_working_folder(output):
        return "is the current folder or one above it; give a new folder such as ./model"
    recorded = _recorded_files(output)
    # the first file the manifest does not list is enough (a large folder is not walked to its end)
    foreign = next((name for name in _walk(output) if recorded is None or name not in recorded), None)
    if foreign is None and recorded is None:
        return None  # an empty folder: nothing in it to lose
    if recorded is None:
        return (f"already exists and is not a model folder finesweep train wrote (it holds {printable(foreign)}); "
                "finesweep never deletes what it did not write: give a new folder")  # fmt: skip
    if foreign is not None:
        return (f"holds {printable(foreign)}, which finesweep train did not write; "
                "move it away or give a new folder")  # fmt: skip
    if not overwrite:
        return "is a model folder finesweep train wrote; add --overwrite to replace it"
    return None


def _holds_the_working_folder(folder: Path) -> bool:
    """True when ``folder`` is the working folder or one of its parents (replacing it would remove
    the job, its data and everything else the user works on)."""
    here, target = Path.cwd().resolve(), folder.resolve()
    return here == target or target in here.parents


def _walk(folder: Path) -> Iterator[str]:
    """Every file and link under ``folder``, relative to it; links are listed, never followed."""
    for root, dirs, names in os.walk(folder, followlinks=False):
        base = Path(root).relative_to(folder)
        for name in sorted(names) + sorted(d for d in dirs if (Path(root) / d).is_symlink()):
            yield (base / name).as_posix()


def _files_under(folder: Path) -> list[str]:
    """Every file and link under ``folder``, relative and sorted (what the manifest records)."""
    return sorted(_walk(folder))


def _recorded_files(folder: Path) -> set[str] | None:
    """The files ``finesweep train`` recorded in the folder's manifest (the manifest included), or
    None when there is no readable manifest of ours."""
    try:
        record = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("written_by") != _WRITER or not isinstance(record.get("files"), list):
        return None
    return {str(name) for name in record["files"]} | {MANIFEST}


def place_model(served: Path, output: Path, overwrite: bool) -> None:
    """Copy the served model folder to ``output``, replacing a model folder of ours only.

    The copy is built next to ``output`` first and moved into place with renames, so a failed copy
    never leaves half a folder and the old one is removed only once the new one is complete. The
    rule is checked again here: the folder may have changed while the trial trained.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{output.name}.finesweep-new-", dir=output.parent))
    try:
        shutil.copytree(served, staged, dirs_exist_ok=True)
        manifest = {"written_by": _WRITER, "files": _files_under(staged)}
        (staged / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)  # our own scratch folder, made above
        raise
    problem = output_problem(output, overwrite)
    if problem is not None:
        raise OutputRefused(f"--output {printable(str(output))}: {problem} (it changed while training; the model is in {staged})")
    if output.exists():
        _swap(staged, output)
    else:
        staged.rename(output)


def _swap(staged: Path, output: Path) -> None:
    """Move ``output`` (checked: a model folder of ours) aside, ``staged`` in, then remove the old one."""
    stale = Path(tempfile.mkdtemp(prefix=f".{output.name}.finesweep-old-", dir=output.parent))
    output.rename(stale / "old")
    staged.rename(output)
    shutil.rmtree(stale, ignore_errors=True)  # our scratch folder holding the replaced model folder
