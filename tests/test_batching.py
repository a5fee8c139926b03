"""Global batches: every example once per epoch, seeded, the same union across workers, and grouping
by length cuts the padding that dynamic padding still leaves."""

from __future__ import annotations

import numpy as np
import pytest

from finesweep.training.batching import GlobalBatches


@pytest.fixture
def lengths() -> list[int]:
    """Token counts of CARER-like sentences: mostly short, a long tail."""
    return np.random.default_rng(0).integers(4, 64, size=1000).tolist()


def _padded_tokens(batches: list[list[int]], lengths: list[int]) -> int:
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


@pytest.mark.parametrize("grouped", [True, False])
def test_every_example_once_per_epoch_and_seeded(lengths, grouped):
    sampler = GlobalBatches(lengths, 16, seed=3, group_by_length=grouped)
    sampler.set_epoch(1)
    first = list(sampler)
    assert sorted(i for b in first for i in b) == list(range(1000))
    assert len(first) == len(sampler) == 63
    assert list(GlobalBatches(lengths, 16, seed=3, group_by_length=grouped).__iter__()) != first  # epoch 0 differs
    again = GlobalBatches(lengths, 16, seed=3, group_by_length=grouped)
    again.set_epoch(1)
    assert list(again) == first, "same seed and epoch, same batches (a restarted worker resumes exactly)"


def test_two_workers_split_each_global_batch(lengths):
    single = GlobalBatches(lengths, 16, seed=5)
    halves = [GlobalBatches(lengths, 16, seed=5, world=2, rank=r) for r in (0, 1)]
    for sampler in (single, *halves):
        sampler.set_epoch(2)
    for whole, part0, part1 in zip(single, *halves):
        assert sorted(part0 + part1) == sorted(whole) and abs(len(part0) - len(part1)) <= 1


def test_grouping_by_length_pads_far_less(lengths):
    grouped, plain = GlobalBatches(lengths, 16, seed=1), GlobalBatches(lengths, 16, seed=1, group_by_length=False)
    real = sum(lengths)
    assert _padded_tokens(list(grouped), lengths) < 1.1 * real < _padded_tokens(list(plain), lengths) / 1.4
