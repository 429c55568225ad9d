"""On-disk cache of judgements, so reruns and resumed runs never pay for the same request twice."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from .judgement import Judgement

logger = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rewardedit" / "judge"


def cache_key(*parts: str | bytes) -> str:
    """sha256 over length-prefixed parts, so no two different part lists can collide by concatenation."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


class JudgeCache:
    """One small JSON file per key (sharded by its first two hex digits); writes are atomic renames."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def read(self, key: str, field: str) -> Any | None:
        """The entry's `field`, or None when there is no entry (or an unreadable one)."""
        path = self.path(key)
        try:
            return json.loads(path.read_text())[field]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError) as exc:
            logger.warning("ignoring unreadable judge cache entry %s: %s", path, exc)
            return None

    def write(self, key: str, entry: dict[str, Any]) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as tmp:
            json.dump(entry, tmp)
        os.replace(tmp.name, path)

    def get(self, key: str) -> Judgement | None:
        fields = self.read(key, "judgement")
        try:
            return Judgement(**fields) if fields is not None else None
        except (TypeError, ValueError) as exc:
            logger.warning("ignoring unreadable judge cache entry %s: %s", self.path(key), exc)
            return None

    def put(self, key: str, judgement: Judgement, reply: str) -> None:
        """Store the judgement with the raw reply it was read from (kept for auditing)."""
        self.write(key, {"judgement": judgement.to_dict(), "reply": reply})
