"""A real chat-completions endpoint on loopback, scripted by the test that starts it.

It speaks the OpenAI protocol over HTTP (no mocks of the client), records every request, counts
requests in flight, and answers with whatever the test's `respond` function returns: replies in
the varied styles real models use, 429s and 5xxs, or answers that come too late.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

from judge.prompts import TITLES

PERSPECTIVE_BY_TITLE = {title: name for name, title in TITLES.items()}
INSTRUCTION_PREFIX = "Instruction: "


@dataclass
class ChatRequest:
    """What the server understood of one request."""

    perspective: str
    instruction: str
    images: list[Image.Image]
    authorization: str | None
    body: dict[str, Any]
    attempt: int  # how many earlier requests had the same perspective and instruction
    arrived: float = field(default_factory=time.monotonic)


@dataclass
class Reply:
    """The answer: assistant `content` wrapped in a chat completion, or a raw `body`."""

    content: Any = None
    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None


Respond = Callable[[ChatRequest], Reply]


def judgement_reply(verdict: bool, score: float, problem: str = "None", style: str = "json") -> str:
    """The same judgement written the way one kind of model or another writes it."""
    if style == "json":
        return json.dumps({"verdict": "yes" if verdict else "no", "score": score, "problem": problem})
    if style == "fenced":
        obj = json.dumps({"verdict": verdict, "score": score, "problem": problem}, indent=2)
        return f"```json\n{obj}\n```"
    if style == "prose":
        obj = json.dumps({"Verdict": "Yes." if verdict else "No.", "Score": str(score), "Problem": problem})
        return f"Having compared both images, here is my review:\n{obj}\nI hope this helps!"
    if style == "python":
        return repr(
            {"verdict": verdict, "score": int(score) if score == int(score) else score, "problem": problem}
        )
    raise ValueError(style)


STYLES = ("json", "fenced", "prose", "python")


class Listener(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops bursts of connections, which then wait 1 s to retry


class ChatServer:
    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.requests: list[ChatRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.httpd = Listener(("127.0.0.1", 0), make_handler(self))
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05})

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def start(self) -> ChatServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # wakes handlers sleeping through a "slow" reply
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()

    def received(self, body: dict[str, Any], authorization: str | None) -> ChatRequest:
        content = body["messages"][-1]["content"]
        text = content[0]["text"]
        title, instruction_line = text.split("\n\n")[:2]
        instruction = json.loads(instruction_line.removeprefix(INSTRUCTION_PREFIX))
        perspective = PERSPECTIVE_BY_TITLE[title]
        images = [
            decode_data_url(part["image_url"]["url"]) for part in content if part["type"] == "image_url"
        ]
        with self.lock:
            attempt = sum(
                r.perspective == perspective and r.instruction == instruction for r in self.requests
            )
            request = ChatRequest(perspective, instruction, images, authorization, body, attempt)
            self.requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return request


def decode_data_url(url: str) -> Image.Image:
    header, data = url.split(",", 1)
    assert header == "data:image/png;base64", header
    return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")


def make_handler(server: ChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            if not self.path.endswith("/v1/chat/completions"):
                self.send(Reply(status=404, body='{"error": "not found"}'))
                return
            request = server.received(json.loads(raw), self.headers.get("Authorization"))
            try:
                reply = server.respond(request)
                server.stopping.wait(reply.delay)
            finally:
                # Counted out before answering: the client may send its next request as soon as it reads this.
                with server.lock:
                    server.in_flight -= 1
            self.send(reply)

        def send(self, reply: Reply) -> None:
            body = reply.body
            if body is None:
                message = {"role": "assistant", "content": reply.content}
                body = json.dumps(
                    {"object": "chat.completion", "choices": [{"index": 0, "message": message}]}
                )
            data = body.encode()
            try:
                self.send_response(reply.status)
                for name, value in {"Content-Type": "application/json", **reply.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout): nothing left to answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
