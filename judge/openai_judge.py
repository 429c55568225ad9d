"""The chat-completions judge: any OpenAI-compatible endpoint with image inputs (GPT-4o, vLLM, ...)."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import os
import random
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from PIL import Image

from .cache import JudgeCache, cache_key
from .errors import JudgeReplyError, JudgeRequestError
from .judgement import PERSPECTIVES, Judge, Judgement, Judgements
from .parse import parse_judgement
from .prompts import PROMPT_VERSION, SYSTEM_PROMPT, user_prompt
from .registry import JudgeOptions, register_judge

logger = logging.getLogger(__name__)

API_KEY_ENV = "REWARDEDIT_JUDGE_API_KEY"


class OpenAIJudge(Judge):
    """Three chat-completions requests per edit, one per perspective, each showing both images.

    (Fewer when a composite judge asks it for some perspectives only.)

    At most `concurrency` requests are in flight at once (across every edit being judged);
    429 and 5xx answers, timeouts and connection errors are retried with exponential backoff
    (or after the server's Retry-After); other 4xx answers fail at once.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        cache: JudgeCache | None = None,
        perspectives: tuple[str, ...] = PERSPECTIVES,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if httpx.URL(base_url).scheme not in ("http", "https"):
            raise ValueError(f"the judge's base URL must start with http:// or https://, got {base_url!r}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.cache = cache
        self.perspectives = perspectives
        self.slots = asyncio.Semaphore(concurrency)
        self.client = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {api_key}"} if api_key else {},
            timeout=timeout,
            limits=httpx.Limits(max_connections=concurrency),
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def judge(self, source: Image.Image, edited: Image.Image, instruction: str) -> Judgements:
        images = (png_bytes(source), png_bytes(edited))
        # Let every perspective finish (and reach the cache) even when another one fails.
        results = await asyncio.gather(
            *(self.judge_perspective(p, images, instruction) for p in self.perspectives),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return dict(zip(self.perspectives, results, strict=True))

    async def judge_perspective(
        self, perspective: str, images: tuple[bytes, bytes], instruction: str
    ) -> Judgement:
        key = cache_key(self.model, perspective, PROMPT_VERSION, *images, instruction)
        if self.cache is not None and (cached := self.cache.get(key)) is not None:
            return cached
        reply = await self.complete(perspective, self.request_body(perspective, images, instruction))
        judgement = parse_judgement(reply, perspective)
        if self.cache is not None:
            self.cache.put(key, judgement, reply)
        return judgement

    def request_body(self, perspective: str, images: tuple[bytes, bytes], instruction: str) -> dict[str, Any]:
        source, edited = (data_url(image) for image in images)
        content = [
            {"type": "text", "text": user_prompt(perspective, instruction)},
            {"type": "text", "text": "Original image:"},
            {"type": "image_url", "image_url": {"url": source}},
            {"type": "text", "text": "Edited image:"},
            {"type": "image_url", "image_url": {"url": edited}},
        ]
        return {
            "model": self.model,
            "temperature": 0,
            "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": content}],
        }

    async def complete(self, perspective: str, body: dict[str, Any]) -> str:
        """The reply text, retrying what is worth retrying; JudgeRequestError once that is exhausted."""
        problem, delay = "", 0.0
        for attempt in range(self.max_retries + 1):
            if attempt:
                logger.info("%s judgement: %s; retrying in %.2f s", perspective, problem, delay)
                await asyncio.sleep(delay)
            retry_after = None
            try:
                async with self.slots:
                    response = await asyncio.wait_for(self.client.post(self.url, json=body), self.timeout)
            except (asyncio.TimeoutError, httpx.TimeoutException):
                problem = f"no answer within {self.timeout:g} s"
            except httpx.TransportError as exc:
                problem = f"cannot reach {self.url}: {exc!r}"
            else:
                if response.status_code != 429 and response.status_code < 500:
                    return reply_text(response, perspective)
                problem = f"HTTP {response.status_code}: {response.text[:200]!r}"
                retry_after = seconds_to_wait(response.headers.get("retry-after"))
            backoff = self.backoff * 2**attempt * random.uniform(0.5, 1.0)  # jitter spreads retry storms
            delay = min(self.max_backoff, backoff if retry_after is None else retry_after)
        attempts = self.max_retries + 1
        raise JudgeRequestError(
            f"{perspective} judgement: {self.url}: giving up after {attempts} attempt{'s' * (attempts > 1)}; "
            f"the last failed with {problem}"
        )


def reply_text(response: httpx.Response, perspective: str) -> str:
    """The assistant message of a final answer; JudgeRequestError for HTTP errors and non-chat bodies."""
    if response.is_error:
        hint = f" (is {API_KEY_ENV} set and valid?)" if response.status_code in (401, 403) else ""
        raise JudgeRequestError(
            f"{perspective} judgement: {response.url} answered HTTP {response.status_code}: "
            f"{response.text[:300]!r}{hint}"
        )
    try:
        message = response.json()["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise JudgeRequestError(
            f"{perspective} judgement: {response.url} did not answer in the chat-completions format: "
            f"{response.text[:300]!r}"
        ) from exc
    content = message.get("content")
    if isinstance(content, list):  # some servers answer with content parts
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if not isinstance(content, str) or not content.strip():
        raise JudgeReplyError(perspective, "the reply is empty", str(message.get("refusal") or message))
    return content


def seconds_to_wait(header: str | None) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date."""
    if header is None:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def png_bytes(image: Image.Image) -> bytes:
    """Lossless PNG: the exact pixels are judged, and the same pixels always give the same cache key."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@register_judge("openai")
def openai_judge(options: JudgeOptions) -> OpenAIJudge:
    if not options.base_url or not options.model:
        raise ValueError("the openai judge needs --base-url and --judge-model")
    return OpenAIJudge(
        options.base_url,
        options.model,
        api_key=options.api_key or os.environ.get(API_KEY_ENV),
        concurrency=options.concurrency,
        timeout=options.timeout,
        max_retries=options.max_retries,
        cache=JudgeCache(options.cache_dir) if options.cache_dir is not None else None,
        perspectives=options.perspectives,
    )
