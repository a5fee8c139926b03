"""Files named by a user: checked before they are opened, and hashed.

Checks: a file must exist and be a regular file.

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
