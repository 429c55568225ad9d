"""Concurrent judge requests gathered into batches for one model, which scores one batch at a time.

`label` and `eval` keep several edits in flight and the service judges candidates as they come;
a reward model on a GPU is fastest on a batch, so requests that arrive while a batch runs form the
next one. The model runs in a worker thread, so the event loop keeps taking requests meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class MicroBatcher(Generic[Item, Result]):
    """`await submit(item)` -> its result; `run` maps a batch to one result (or exception) per item."""

    def __init__(self, run: Callable[[list[Item]], list[Result | Exception]], max_size: int) -> None:
        if max_size < 1:
            raise ValueError(f"batch size must be at least 1, got {max_size}")
        self.run = run
        self.max_size = max_size
        self.pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self.runner: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self.pending.append((item, future))
        if self.runner is None or self.runner.done():
            self.runner = asyncio.ensure_future(self.drain())
        return await future

    async def drain(self) -> None:
        await asyncio.sleep(0)  # requests made in the same turn of the loop join the first batch
        while self.pending:
            batch = [(item, future) for item, future in self.pending[: self.max_size] if not future.done()]
            del self.pending[: self.max_size]
            if not batch:
                continue  # every waiter of these gave up (canceled)
            try:
                results = await asyncio.to_thread(self.run, [item for item, _ in batch])
            except Exception as exc:  # the whole batch failed: each waiter gets the error
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
