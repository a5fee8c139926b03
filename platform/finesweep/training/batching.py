"""Training batches for one worker of a trial: seeded, the same global batches whatever the number of
workers, and optionally grouped by length so dynamic padding pads little.

Every epoch draws a seeded permutation of the examples and cuts it into global batches of
``batch_size``. With ``group_by_length``, each run of ``batch_size * GROUP_FACTOR`` examples of the
permutation is sorted by length before it is cut (batches hold similar lengths) and the batches are
then shuffled (the order stays random), as Hugging Face's ``group_by_length`` does. Worker ``rank``
of ``world`` trains on ``batch[rank::world]`` of every global batch, so the union of the workers'
step-k batches is exactly the global step-k batch a single worker would see.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

GROUP_FACTOR = 50  # examples sorted together = batch_size * 50: similar lengths, still well mixed


class GlobalBatches:
    """A batch sampler (``DataLoader(batch_sampler=...)``) of this worker's share of each global batch."""

    def __init__(
        self, lengths: Sequence[int], batch_size: int, seed: int, world: int = 1, rank: int = 0, group_by_length: bool = True
    ):
        self.lengths = np.asarray(lengths)
        self.batch_size, self.seed, self.world, self.rank = batch_size, seed, world, rank
        self.group_by_length = group_by_length
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's permutation (the same on every worker and after a restart)."""
        self.epoch = epoch

    def global_batches(self) -> list[list[int]]:
        """The epoch's global batches of example indices, in training order."""
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(len(self.lengths))
        if not self.group_by_length:
            return [order[i : i + self.batch_size].tolist() for i in range(0, len(order), self.batch_size)]
        batches: list[list[int]] = []
        run = self.batch_size * GROUP_FACTOR
        for start in range(0, len(order), run):
            chunk = order[start : start + run]
            chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]  # longest first within the run
            batches += [chunk[i : i + self.batch_size].tolist() for i in range(0, len(chunk), self.batch_size)]
        shuffled = rng.permutation(len(batches))
        return [batches[i] for i in shuffled]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.global_batches():
            while len(batch) < self.world:  # a short last batch still gives every worker an example
                batch = batch + batch[: self.world - len(batch)]
            yield batch[self.rank :: self.world]

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)
