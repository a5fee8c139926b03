"""Checks of option values, made before a command reads data, loads a model or opens a store."""

from __future__ import annotations

from pathlib import Path

from finesweep.cli._app import current_settings
from finesweep.errors import ConfigError, FinesweepError


def check_names(*named: tuple[str, str | None]) -> None:
    """Refuse names that would escape a folder or break a query (one rule for every name)."""
    from finesweep.config.names import name_problem

    problems = [p for option, value in named if value is not None for p in [name_problem(value, option)] if p]
    if problems:
        raise ConfigError(problems)


def check_constraints(constraints: list[str]) -> None:
    """``--constraint`` values: ``METRIC OP NUMBER`` each (the job file's grammar), none on a
    ``test_*`` metric, refused together before the store is opened."""
    from finesweep.objective.constraints import promotion_constraint_problems

    problems = promotion_constraint_problems(constraints)
    if problems:
        raise ConfigError(problems)


def checked_store(tracking_uri: str | None, must_exist: bool = True) -> str:
    """The tracking URI a command uses, checked (reachable, MLflow, usable) before anything else runs.

    Read-only commands never create a store: ``leaderboard`` in an empty folder says there is none
    instead of leaving a fresh ``./mlflow.db`` behind.
    """
    from finesweep.tracking.store import preflight, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri, current_settings())
    preflight(uri, must_exist=must_exist)
    return uri


def is_space_file(path: Path) -> bool:
    """A search-space file has a top-level ``parameters`` key and no ``dataset``."""
    from finesweep.config.loader import parse_yaml_text, read_limited_text

    try:
        # the same limits as loading (regular files only, 1 MiB): a FIFO must not block us here
        data = parse_yaml_text(read_limited_text(path, str(path)))
    except Exception:  # noqa: BLE001 - the job loader reports unreadable files properly
        return False
    return isinstance(data, dict) and "parameters" in data and "dataset" not in data


def read_texts(path: Path) -> list[str]:
    """Texts from a .txt (one per line), .csv/.tsv/.jsonl/.parquet (a `text` column) file; the text
    formats may be gzipped (``.csv.gz``)."""
    from finesweep.data.readers import format_from_name, read_frame

    fmt = format_from_name(path.name)
    if fmt is not None:
        frame = read_frame(path, fmt)
        if "text" not in frame.columns:
            raise FinesweepError(f"{path}: no 'text' column; columns are: {', '.join(map(str, frame.columns))}")
        return frame["text"].astype(str).tolist()
    from finesweep.data.readers import read_text_file

    return [line for line in read_text_file(path, "--input", "texts file").splitlines() if line.strip()]


def check_device(device: str | None) -> None:
    """``cpu``, ``cuda`` or ``cuda:N`` (with that GPU present), ``mps``; refused before a model loads."""
    import re

    if device is None:
        return
    if not re.fullmatch(r"cpu|mps|cuda(:\d{1,3})?", device):
        raise FinesweepError(f"--device: must be cpu, cuda, cuda:N or mps (got {device!r})")
    if device.startswith("cuda"):
        import torch

        index = int(device.partition(":")[2] or 0)
        if not torch.cuda.is_available():
            raise FinesweepError(f"--device {device}: no CUDA GPU is available on this machine; use --device cpu")
        if index >= torch.cuda.device_count():
            raise FinesweepError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
