"""The service's judge: one per process, for POST /score and for picking the best of N candidates.

The judge package is async, and a judge's HTTP client belongs to the event loop that opened it
(judge/judgement.py). The task code is synchronous (a solo Celery worker, the embedded worker
thread) and the API has its own loop, so the judge gets a private loop in a daemon thread: it is
created, used and closed there. Synchronous callers wait on `submit()`'s future; the API awaits
`ajudge()`. In the embedded mode the API and the worker share one judge and its concurrency limit.

A judge that loads a model (`editreward`) is loaded at start where jobs run, beside the editor;
the API of the broker mode, which only needs it for POST /score, loads it on the first call.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any

from PIL import Image

from judge import (
    PERSPECTIVES,
    Judge,
    JudgeInputError,
    Judgements,
    JudgeOptions,
    JudgeReplyError,
    JudgeRequestError,
    create_judge,
    loads_model,
)

from .settings import Settings

NOT_CONFIGURED = "judge_not_configured"
UNAVAILABLE = "judge_unavailable"
UNREADABLE_REPLY = "judge_unreadable_reply"
UNSCORABLE = "unscorable_edit"  # the judge cannot take this input (a local model's limits)


class JudgeNotConfigured(RuntimeError):
    """A job asked for candidates > 1 on a worker without a judge (broker mode, misconfigured)."""


class ServiceJudge:
    """A judge living in its own event loop thread; thread-safe, closed once."""

    def __init__(self, name: str, options: JudgeOptions, defer_models: bool = False) -> None:
        """`defer_models`: a judge that loads a model is made on first use instead of now."""
        self._name, self._options = name, options
        self._judge: Judge | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="rewardedit-judge", daemon=True)
        self._thread.start()
        try:
            if not (defer_models and loads_model(name)):
                self._judge = self._call(self._create()).result()
        except BaseException:
            self._stop()
            raise

    @classmethod
    def open(cls, settings: Settings, defer_models: bool = False) -> ServiceJudge | None:
        """The configured judge, or None when the settings name none; ValueError for a bad setup."""
        if settings.judge is None:
            return None
        options = JudgeOptions(
            base_url=settings.judge_base_url,
            model=settings.judge_model,
            api_key=settings.judge_api_key.get_secret_value() if settings.judge_api_key else None,
            concurrency=settings.judge_concurrency,
            timeout=settings.judge_timeout_s,
            max_retries=settings.judge_max_retries,
            reward_model=settings.judge_reward_model,
            base_model=settings.judge_base_model,
            calibration=settings.judge_calibration,
            device=settings.judge_device or settings.device,
            batch_size=settings.judge_batch_size,
        )
        try:
            return cls(settings.judge, options, defer_models)
        except ValueError as exc:
            raise ValueError(f"the judge settings (REWARDEDIT_JUDGE*) are not usable: {exc}") from exc

    def submit(
        self, source: Image.Image, edited: Image.Image, instruction: str
    ) -> concurrent.futures.Future[Judgements]:
        """Start judging; the future holds the Judgements, or the judge's error."""
        if self._loop.is_closed():
            raise JudgeRequestError("the judge is shut down")
        return self._call(self._judged(source, edited, instruction))

    async def ajudge(self, source: Image.Image, edited: Image.Image, instruction: str) -> Judgements:
        """Judge from another event loop (the API's); cancelling this cancels the judging."""
        return await asyncio.wrap_future(self.submit(source, edited, instruction))

    def close(self) -> None:
        """Cancel what is in flight and close the judge's connections, in its own loop."""
        if self._loop.is_closed():
            return
        self._call(self._shutdown()).result()
        self._stop()

    def _call(self, coroutine: Coroutine[Any, Any, Any]) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    async def _create(self) -> Judge:
        return create_judge(self._name, self._options)  # inside the loop, so its client belongs to it

    async def _judged(self, source: Image.Image, edited: Image.Image, instruction: str) -> Judgements:
        if self._judge is None:  # deferred: made on first use (the loop runs one call at a time here)
            try:
                self._judge = await self._create()
            except ValueError as exc:
                raise JudgeRequestError(f"the judge could not be made: {exc}") from exc
        return await self._judge.judge(source, edited, instruction)

    async def _shutdown(self) -> None:
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if self._judge is not None:
            await self._judge.aclose()

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


def judgements_dict(judgements: Judgements) -> dict[str, dict[str, Any]]:
    """`{"following": {"verdict", "score", "text"}, ...}`: what POST /score and job records show."""
    return {name: judgements[name].to_dict() for name in PERSPECTIVES}


def judge_error(exc: JudgeRequestError | JudgeReplyError) -> dict[str, str]:
    """A client-facing error for a judge failure; the details (the judge's URL) stay in our logs."""
    if isinstance(exc, JudgeInputError):  # about the request itself, so its reason is the client's to read
        return {"code": UNSCORABLE, "message": str(exc)}
    if isinstance(exc, JudgeReplyError):
        return {
            "code": UNREADABLE_REPLY,
            "message": f"the judge's {exc.perspective} reply could not be read; retry later",
        }
    return {
        "code": UNAVAILABLE,
        "message": "the judge could not be reached or refused the request (after retries); retry later",
    }
