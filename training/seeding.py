"""Seeds derived from (run seed, purpose, position), so every random draw can be replayed on resume."""

from __future__ import annotations

import numpy as np
import torch

# Purposes: each gets its own independent stream of seeds.
PERMUTATION, AUGMENTATION, STEP = 0, 1, 2


def derive_seed(*keys: int) -> int:
    """A 63-bit seed that depends on every key; neighbouring keys give unrelated seeds."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1, np.uint64)[0] >> 1)


def generator(*keys: int) -> torch.Generator:
    """A CPU generator seeded from keys: the same draws on every device and after every resume."""
    return torch.Generator().manual_seed(derive_seed(*keys))
