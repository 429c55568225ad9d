"""The frozen encoders' outputs, kept after first use, and on disk for later runs on the same data.

Neither the VAE nor the text encoder trains, so with fixed crops a manifest row always encodes to
the same posterior and a text to the same states. On the synthetic world's CPU runs the two
encoders were over a quarter of a training step; a fine-tune that sees each row about once
gains nothing from an in-memory cache alone, hence the file.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch import nn

logger = logging.getLogger(__name__)

T = TypeVar("T")


class EncodingCache:
    """Per dataset row: (target mean, target std, source mode); per text: the encoder's states.

    The posterior is kept, not a sample of it, so a cached step draws a fresh target latent from
    the same generator exactly as an uncached step does.
    """

    def __init__(self, fingerprint: str = "") -> None:
        self.fingerprint = fingerprint
        self.posteriors: dict[int, tuple[torch.Tensor, ...]] = {}
        self.texts: dict[str, torch.Tensor] = {}
        self._saved_size = 0

    def __len__(self) -> int:
        return len(self.posteriors) + len(self.texts)

    @classmethod
    def load(cls, path: Path, fingerprint: str, device: torch.device | str = "cpu") -> EncodingCache:
        """The cache saved at `path` if it was made from the same data and encoders; else an empty one."""
        cache = cls(fingerprint)
        if not path.is_file():
            return cache
        saved = torch.load(path, map_location=device, weights_only=True)
        if saved["fingerprint"] != fingerprint:
            logger.warning("%s holds encodings of other data or encoders: starting an empty cache", path)
            return cache
        cache.posteriors, cache.texts = saved["posteriors"], saved["texts"]
        cache._saved_size = len(cache)
        logger.info("loaded %d encodings from %s", len(cache), path)
        return cache

    def save(self, path: Path) -> None:
        """Replace the file atomically (runs sharing it may save at once); a no-op when nothing is new."""
        if len(self) == self._saved_size:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        saved = {"fingerprint": self.fingerprint, "posteriors": self.posteriors, "texts": self.texts}
        torch.save(saved, partial)
        os.replace(partial, path)
        self._saved_size = len(self)


def cached_rows(
    store: dict[Hashable, T], keys: list[Hashable], compute: Callable[[list[int]], list[T]]
) -> list[T]:
    """Each key's value from `store`; the missing ones come from one `compute(batch rows)` call."""
    missing = list({key: row for row, key in enumerate(keys) if key not in store}.values())
    if missing:
        store.update(zip((keys[row] for row in missing), compute(missing), strict=True))
    return [store[key] for key in keys]


def text_key(token_ids: np.ndarray) -> str:
    return hashlib.blake2b(token_ids.tobytes(), digest_size=16).hexdigest()


def fingerprint(manifest: Path, resolution: int, *encoders: nn.Module) -> str:
    """What cached encodings depend on: the manifest, the crop size and the encoders' weights.

    The images are named by the manifest, not hashed: rewriting them under the same names needs a
    new cache file.
    """
    digest = hashlib.sha256(manifest.read_bytes())
    digest.update(str(resolution).encode())
    for encoder in encoders:
        for name, tensor in sorted(encoder.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
