"""The HTTP server under the API: uvicorn on its h11 protocol, with bounded request heads.

uvicorn's default httptools parser takes request heads of any size (a 16 MB header is read into
memory), and neither parser closes a connection that never completes a request. h11 refuses a
head still incomplete past MAX_HEAD_BYTES (one that arrives whole in a single socket read, at
most 256 KiB, passes); BoundedH11Protocol answers that, and any request h11 cannot read, with a 400 in
the API's error shape, and closes a connection whose request head is not complete
HEAD_TIMEOUT_S after it opened, or after the previous response, however slowly its bytes arrive.
Request bodies are bounded by the upload limit (upload_limit.py).
"""

from __future__ import annotations

import asyncio
import json

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_HEAD_BYTES = 64 * 1024
HEAD_TIMEOUT_S = 10.0
KEEP_ALIVE_S = 5


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request head."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._await_head()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request h11 cannot read, as JSON `{"error": {"code", "message"}}`."""
        message = f"the request could not be read (malformed, or its head is over {MAX_HEAD_BYTES} bytes)"
        body = json.dumps({"error": {"code": "bad_request", "message": message}}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        response = h11.Response(status_code=400, headers=headers, reason=b"Bad Request")
        for event in (response, h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()

    def _await_head(self) -> None:
        """Close the connection unless a new request's head arrives (a new cycle) in time."""
        previous = self.cycle

        def expire() -> None:
            if self.cycle is previous and not self.transport.is_closing():
                self.transport.close()

        self.loop.call_later(HEAD_TIMEOUT_S, expire)


def serve(app: FastAPI, host: str, port: int) -> None:
    uvicorn.run(
        app,
        host=host,
        port=port,
        http=BoundedH11Protocol,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=5,
    )
