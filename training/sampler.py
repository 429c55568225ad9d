"""An endless, seeded, sharded stream of sample indices whose position is one integer.

The stream is the concatenation of per-epoch permutations of the dataset; global batch k is
stream[k*G : (k+1)*G] with G = batch size x processes, and process r takes its r-th slice. The data
position is therefore "samples consumed", and resuming from it replays exactly the batches an
uninterrupted run would have seen, without loading any of the skipped ones.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from .seeding import PERMUTATION, generator


class StreamBatchSampler:
    """Yields, for one process, lists of (dataset index, stream position) forever."""

    def __init__(
        self, size: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1, start: int = 0
    ) -> None:
        if size < 1:
            raise ValueError("cannot sample from an empty dataset")
        self.size = size
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.start = start
        self._epoch = -1
        self._permutation: list[int] = []

    @property
    def global_batch_size(self) -> int:
        return self.batch_size * self.world_size

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        first = self.start + self.rank * self.batch_size
        while True:
            yield [(self.index_at(position), position) for position in range(first, first + self.batch_size)]
            first += self.global_batch_size

    def index_at(self, position: int) -> int:
        """The dataset index at a stream position: epoch = position // size, shuffled within the epoch."""
        epoch, offset = divmod(position, self.size)
        if epoch != self._epoch:
            order = generator(self.seed, PERMUTATION, epoch)
            self._permutation = torch.randperm(self.size, generator=order).tolist()
            self._epoch = epoch
        return self._permutation[offset]
