"""Job files and search spaces: typed schema, loading, ``--set`` overrides and validation."""

from finesweep.config.loader import LoadedJob, load_job, load_space_file

__all__ = ["LoadedJob", "load_job", "load_space_file"]
