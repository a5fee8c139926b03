"""The exceptions users can cause. The CLI prints them as one line and exits with code 2."""

from __future__ import annotations


class FinesweepError(Exception):
    """Base of every error a user can cause and fix (bad config, missing data, bad model path)."""

    exit_code = 2


class ConfigError(FinesweepError):
    """One or more problems in a job file, a search-space file or a ``--set`` override.

    ``problems`` holds one line per problem, each naming file, dotted key, what was received and
    what is allowed, so that every problem is reported at once.
    """

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class DataError(FinesweepError):
    """A dataset that cannot be read, has missing columns, unknown labels or empty splits."""


class ModelError(FinesweepError):
    """A base model that cannot be found or loaded, or LoRA targets absent from it."""


class TrackingError(FinesweepError):
    """The MLflow store cannot be reached or holds nothing for the requested sweep."""


class SweepError(FinesweepError):
    """A sweep that cannot start or be resumed as asked (name clash, no resources for a trial)."""


class Interrupted(FinesweepError):
    """The user pressed Ctrl-C: the sweep stopped its trials, recorded them as interrupted and
    closed its runs; ``--resume`` continues it. Exits 130 (128 + SIGINT), as shells expect."""

    exit_code = 130


class PromotionRefused(FinesweepError):
    """The challenger did not beat the champion by the required margin; the alias did not move.

    ``outcome`` holds the comparison (a ``promotion.registry.Promotion``) for the CLI to print.
    """

    exit_code = 3

    def __init__(self, reason: str, outcome: object = None):
        self.outcome = outcome
        super().__init__(f"promotion refused: {reason}")
