"""Following a job from the API: `Prefer: wait=N` and server-sent events both poll the job store.

Polling keeps the two stores simple (no pub/sub). The interval is a tenth of the time since the
last change, within bounds: a change is seen at most ~10 % (and 250 ms) late, and a long wait
costs few store reads.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Hashable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

MAX_WAIT_S = 60
MIN_POLL_S, MAX_POLL_S, POLL_FRACTION = 0.01, 0.25, 0.1
PREFER_WAIT = re.compile(r'(?:^|[,;\s])wait\s*=\s*"?(\d+)', re.IGNORECASE)

T = TypeVar("T")


def preferred_wait(prefer: str | None) -> int | None:
    """Seconds asked for by `Prefer: wait=N` (RFC 7240), at most MAX_WAIT_S; None when not asked.

    Lenient, as RFC 7240 asks: whatever else the header holds is ignored, and N is delta-seconds,
    so a value too long to read (any number of digits) means "as long as you allow".
    """
    match = PREFER_WAIT.search(prefer or "")
    if match is None:
        return None
    digits = match.group(1).lstrip("0")
    return MAX_WAIT_S if len(digits) > len(str(MAX_WAIT_S)) else min(int(digits or 0), MAX_WAIT_S)


async def watch(
    fetch: Callable[[], T | None],
    key: Callable[[T], Hashable],
    done: Callable[[T], bool],
    timeout_s: float | None = None,
    repeat_after_s: float | None = None,
) -> AsyncIterator[T]:
    """Yield fetch() now, whenever its key changes and every repeat_after_s, until done or gone."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s if timeout_s is not None else float("inf")
    last_key: Hashable = object()
    last_change = last_yield = loop.time()
    while True:
        item = await run_in_threadpool(fetch)
        if item is None:
            return
        now = loop.time()
        changed = key(item) != last_key
        if changed:
            last_key, last_change = key(item), now
        if changed or (repeat_after_s is not None and now - last_yield >= repeat_after_s):
            yield item
            last_yield = now
        if done(item) or now >= deadline:
            return
        delay = min(max(MIN_POLL_S, POLL_FRACTION * (now - last_change)), MAX_POLL_S)
        await asyncio.sleep(min(delay, deadline - now))
