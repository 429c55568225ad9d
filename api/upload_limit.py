"""Refuses request bodies above the upload limit with a JSON 413, before or while reading them.

Starlette's own limiter answers in plain text; ours keeps the error shape. A declared
Content-Length over the limit is refused before any byte is read; a body that grows past it
(chunked uploads) stops the form parser through an HTTPException raised from `receive`.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ApiError, error_response

CODE = "upload_too_large"


def too_large(limit: int) -> ApiError:
    return ApiError(413, CODE, f"the request body is larger than the limit of {limit} bytes")


class UploadLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            error = too_large(self.max_bytes)
            scope["app"].state.metrics.errors.labels(code=CODE).inc()
            response = error_response(error.status_code, CODE, error.detail, {"Connection": "close"})
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise too_large(self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)
