"""Stratified train/validation/test splits and subsampling, with a fixed seed."""

from __future__ import annotations

import pandas as pd
from sklearn.model_selection import train_test_split

from finesweep.errors import DataError

# A class needs this many examples to appear in every split of a three-way stratified split.
MIN_PER_CLASS = 3


def _check_stratifiable(frame: pd.DataFrame, where: str, needed: int) -> None:
    counts = frame["label"].value_counts()
    small = counts[counts < needed]
    if not small.empty:
        listed = ", ".join(f"{label!r} ({count})" for label, count in list(small.items())[:8])
        listed += f", ... ({len(small):,} classes in all)" if len(small) > 8 else ""
        raise DataError(f"{where}: classes with fewer than {needed} examples cannot be split stratified: {listed}")


def carve(frame: pd.DataFrame, fraction: float, seed: int, where: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split off ``fraction`` of ``frame``, stratified by label: (rest, carved)."""
    _check_stratifiable(frame, where, 2)
    classes = frame["label"].nunique()
    try:
        rest, carved = train_test_split(frame, test_size=fraction, random_state=seed, stratify=frame["label"])
    except ValueError:  # scikit-learn: the carved split cannot hold one row of every class
        raise DataError(
            f"{where}: {len(frame)} row(s) are too few to carve a {fraction:.0%} split holding each of the {classes} "
            "classes; give more rows, or separate validation and test files"
        ) from None
    return rest.reset_index(drop=True), carved.reset_index(drop=True)


def make_splits(
    shipped: dict[str, pd.DataFrame], validation_fraction: float, test_fraction: float, seed: int, where: str
) -> dict[str, pd.DataFrame]:
    """Complete the shipped splits to train/validation/test, carving missing ones from the data.

    ``shipped`` has ``train`` (and maybe ``validation``/``test``), or ``all`` when the dataset has
    no split at all. The test split is only ever carved from data never used for training.
    """
    splits = dict(shipped)
    if "all" in splits:
        everything = splits.pop("all")
        _check_stratifiable(everything, where, MIN_PER_CLASS)
        rest, splits["test"] = carve(everything, test_fraction, seed, where)
        splits["train"] = rest
    if "test" not in splits:
        splits["train"], splits["test"] = carve(splits["train"], test_fraction, seed, where)
    if "validation" not in splits:
        # fraction of what remains, so that validation is validation_fraction of the whole
        share = validation_fraction / (1 - (test_fraction if "all" in shipped else 0))
        splits["train"], splits["validation"] = carve(splits["train"], min(share, 0.5), seed + 1, where)
    return splits


def subsample(frame: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    """At most ``limit`` rows, stratified by label (every class kept when possible)."""
    if limit is None or len(frame) <= limit:
        return frame
    counts = frame["label"].value_counts()
    if (counts < 2).any() or limit < len(counts):
        return frame.sample(n=limit, random_state=seed).reset_index(drop=True)
    kept, _ = train_test_split(frame, train_size=limit, random_state=seed, stratify=frame["label"])
    return kept.reset_index(drop=True)
