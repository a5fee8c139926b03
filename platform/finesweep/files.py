"""Files named by a user: checked before they are opened or written, and hashed.

Checks: a file read must exist and be a regular file; a file written must be a new (or, where
allowed, an existing) regular file in a folder that accepts files, checked before any work starts.

A named pipe would block the reader forever and a device such as ``/dev/zero`` would be read until
memory runs out, so both are refused by their ``stat`` before anything opens them; a symlink loop
and a directory get their own words instead of "not found".
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

from finesweep.errors import FinesweepError


class OutputError(FinesweepError):
    """An output path (``--output``) that cannot receive what a command writes."""


def regular_file_problem(path: Path, what: str = "file") -> tuple[str | None, os.stat_result | None]:
    """(why ``path`` cannot be read as a ``what``, None) or (None, its stat) when it is a regular file."""
    try:
        info = path.stat()  # follows symlinks; a loop raises ELOOP
    except FileNotFoundError:
        return f"{what} not found", None
    except OSError as exc:
        reason = "a symlink loop" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
        return f"cannot read ({reason})", None
    if stat.S_ISDIR(info.st_mode):
        return f"is a directory, not a {what}", None
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (a pipe, socket or device)", None
    return None, info


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks (data files, model sources, built weights)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_size_mb(folder: Path) -> float:
    """Total size of the files under ``folder`` in MiB (a model's size on disk)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


# Table formats by file suffix; a text format may also be gzip-compressed (``.tsv.gz``).
FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
GZIP_SUFFIX = ".gz"


def format_from_name(name: str) -> str | None:
    """The format a file name's suffix implies (``tickets.tsv.gz`` is tsv), or None when it implies none."""
    lowered = name.lower().removesuffix(GZIP_SUFFIX)
    return FORMATS.get(Path(lowered).suffix)


# ---------------------------------------------------------------------------------------------
# outputs: checked before any work, so that a bad --output costs nothing

_PROBE_PREFIX = ".finesweep-probe-"


def output_file_problem(path: Path, replace: bool = False) -> str | None:
    """Why a new regular file cannot be written at ``path``, or None when it can.

    ``replace`` lets an existing regular file be written over (a generated schema); a folder, a pipe,
    a device (``/dev/full``) or a socket is never a target: writing would fail, block or vanish.
    Without ``replace`` an existing file is refused. A missing ``path`` needs a folder it can be
    created in, which is probed by creating (and removing) a hidden file there: ``os.access`` says
    yes to root in a read-only folder and in ``/proc``, where creating a file still fails.
    """
    if str(path) in ("", "."):
        return "is the current folder; give a file name such as ./out.json"
    try:
        info = path.stat()
    except FileNotFoundError:
        return _folder_problem(path.parent, "file")
    except OSError as exc:
        return _stat_problem(path, exc)
    if stat.S_ISDIR(info.st_mode):
        return "is a folder; give a file name inside it"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file (a pipe, socket or device); give a file name"
    if not replace:
        return "already exists; it is never overwritten: give another name or move it away"
    if not os.access(path, os.W_OK):
        return "is read-only"
    return None


def output_folder_problem(path: Path) -> str | None:
    """Why a folder cannot be created at ``path`` (with its missing parents), or None when it can or
    when ``path`` is already a folder (whether that one may be filled is its owner's rule)."""
    if str(path) in ("", "."):
        return None if path.is_dir() else "the current folder is gone"
    if path.is_dir():
        return None
    ancestor = path
    while True:
        try:
            info = ancestor.stat()
        except FileNotFoundError:
            if ancestor.parent == ancestor:
                return "no folder above it exists"
            ancestor = ancestor.parent
            continue
        except OSError as exc:
            return _stat_problem(ancestor, exc)
        break
    if ancestor == path:
        return "is a file, not a folder" if stat.S_ISREG(info.st_mode) else "is not a folder (a pipe, socket or device)"
    if not stat.S_ISDIR(info.st_mode):
        return f"{ancestor} is a file, not a folder"
    return _probe(ancestor, "folder")


def _folder_problem(folder: Path, what: str) -> str | None:
    """Why a ``what`` cannot be created in ``folder`` (it must exist, be a folder and accept files)."""
    shown = folder if str(folder) else Path(".")
    try:
        info = shown.stat()
    except FileNotFoundError:
        return f"the folder {shown} does not exist"
    except OSError as exc:
        return _stat_problem(shown, exc)
    if not stat.S_ISDIR(info.st_mode):
        return f"{shown} is a file, not a folder"
    return _probe(shown, what)


def _probe(folder: Path, what: str) -> str | None:
    """Create and remove a hidden entry of kind ``what`` in ``folder``: the one check every file
    system answers truly (read-only mounts, /proc, a full quota, root's permissions)."""
    import tempfile

    try:
        if what == "folder":
            os.rmdir(tempfile.mkdtemp(prefix=_PROBE_PREFIX, dir=folder))
        else:
            handle, name = tempfile.mkstemp(prefix=_PROBE_PREFIX, dir=folder)
            os.close(handle)
            os.unlink(name)
    except OSError as exc:
        return f"cannot create a {what} in {folder} ({exc.strerror or exc})"
    return None


def _stat_problem(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOTDIR:
        return "a part of the path above it is a file, not a folder"
    if exc.errno == errno.ELOOP:
        return "a symlink loop"
    return f"cannot reach it ({exc.strerror or exc})"


def write_new_file(path: Path, text: str, option: str, replace: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` after :func:`output_file_problem`'s check; any problem,
    before or while writing (a disk that fills), raises one :class:`OutputError` naming ``option``,
    and a file this call created is removed again."""
    problem = output_file_problem(path, replace)
    if problem is not None:
        raise OutputError(f"{option} {path}: {problem}")
    existed = path.exists()
    try:
        with path.open("w" if replace else "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise OutputError(f"{option} {path}: already exists; it is never overwritten: give another name") from None
    except OSError as exc:
        if not existed:
            path.unlink(missing_ok=True)
        raise OutputError(f"{option} {path}: cannot write ({exc.strerror or exc})") from None


def check_output_file(path: Path, option: str, replace: bool = False) -> None:
    """Raise :class:`OutputError` naming ``option`` unless a regular file can be written at ``path``."""
    problem = output_file_problem(path, replace)
    if problem is not None:
        raise OutputError(f"{option} {path}: {problem}")


def check_output_folder(path: Path, option: str) -> None:
    """Raise :class:`OutputError` naming ``option`` unless a folder can be created at ``path``."""
    problem = output_folder_problem(path)
    if problem is not None:
        raise OutputError(f"{option} {path}: {problem}")
