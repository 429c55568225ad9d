"""HTTP details an outside probe checks: security in the OpenAPI, Allow on 405, the order of /score's
checks, what /healthz shows, protected docs and metrics, and bounded request heads."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from api.server import HEAD_TIMEOUT_S, MAX_HEAD_BYTES

from .helpers import API_KEYS, Stack, error_of, start_stack

OPS_PATHS = ("/metrics", "/docs", "/redoc", "/openapi.json")


def operations(schema: dict) -> list[dict]:
    return [operation for path in schema["paths"].values() for operation in path.values()]


def test_the_openapi_declares_bearer_security_only_with_keys(embedded_stack, broker_stack):
    open_schema = embedded_stack.client().http.get("/openapi.json").json()
    assert "securitySchemes" not in open_schema.get("components", {})
    assert not any("security" in operation for operation in operations(open_schema))

    keyed_schema = broker_stack.client().http.get("/openapi.json").json()
    assert keyed_schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert keyed_schema["paths"]["/edit"]["post"]["security"] == [{"HTTPBearer": []}]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("PUT", "/jobs/0123456789abcdef0123456789abcdef", {"GET", "DELETE"}), ("GET", "/edit", {"POST"})],
)
def test_a_405_lists_every_allowed_method(embedded_stack, method, path, allowed):
    response = embedded_stack.client().http.request(method, path)
    assert response.status_code == 405 and error_of(response)["code"] == "method_not_allowed"
    assert allowed <= set(response.headers["allow"].split(", ")), response.headers["allow"]


def test_score_checks_its_uploads_before_saying_it_has_no_judge(embedded_stack, source_png):
    client = embedded_stack.client()

    def score(source: bytes, edited: bytes):
        files = {"source": ("s.png", source, "image/png"), "edited": ("e.png", edited, "image/png")}
        return client.http.post("/score", data={"instruction": "make it red"}, files=files)

    for source, edited in ((b"", source_png), (source_png, b"not an image")):
        response = score(source, edited)
        assert response.status_code == 422 and error_of(response)["code"] == "invalid_image"
    response = score(source_png, source_png)
    assert response.status_code == 501 and error_of(response)["code"] == "judge_not_configured"


def test_healthz_shows_no_paths_where_clients_need_keys(embedded_stack, broker_stack):
    [served] = embedded_stack.client().http.get("/healthz").json()["models"]
    assert "path" in served  # no keys: the operator's own machine
    keyed = broker_stack.client().http.get("/healthz").json()
    assert keyed["broker"] == "reachable" and keyed["models"]
    assert all("path" not in model for model in keyed["models"])
    assert str(broker_stack.model) not in str(keyed)


@pytest.fixture(scope="module")
def protected_stack(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path) -> Iterator[Stack]:
    stack = start_stack(
        tmp_path_factory.mktemp("protected"),
        tiny_checkpoint,
        REWARDEDIT_API_KEYS=",".join(API_KEYS),
        REWARDEDIT_PROTECT_DOCS_AND_METRICS="true",
    )
    yield stack
    stack.stop()


def test_docs_and_metrics_are_open_unless_the_settings_protect_them(broker_stack, protected_stack):
    stranger = broker_stack.client(key="")
    assert [stranger.http.get(path).status_code for path in OPS_PATHS] == [200] * len(OPS_PATHS)
    stranger = protected_stack.client(key="")
    for path in OPS_PATHS:
        response = stranger.http.get(path)
        assert response.status_code == 401 and error_of(response)["code"] == "unauthorized", path
    member = protected_stack.client("key-b")
    assert [member.http.get(path).status_code for path in OPS_PATHS] == [200] * len(OPS_PATHS)


def connect(stack: Stack) -> socket.socket:
    address = urlsplit(stack.url)
    return socket.create_connection((address.hostname, address.port), timeout=HEAD_TIMEOUT_S + 20)


def exchange(sock: socket.socket, data: bytes) -> bytes:
    """Send data, then read until the server closes the connection (a reset closes it too)."""
    received = b""
    with contextlib.suppress(ConnectionError):
        sock.sendall(data)
        while chunk := sock.recv(65536):
            received += chunk
    return received


def head_of(size: int) -> bytes:
    """The start of a request head with a `size`-byte header, not yet ended."""
    return b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size


def test_an_oversized_request_head_is_refused_with_a_json_400(embedded_stack):
    with connect(embedded_stack) as sock:
        answer = exchange(sock, head_of(16 * 1024 * 1024) + b"\r\n\r\n")
    assert answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer[:100]  # closed while it was sent
    with connect(embedded_stack) as sock:  # the server has read all of it when it answers: no reset
        answer = exchange(sock, head_of(MAX_HEAD_BYTES + 1024))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"content-type: application/json" in head.lower()
    assert json.loads(body)["error"]["code"] == "bad_request"
    fits = {"X-Fits": "a" * (MAX_HEAD_BYTES // 2)}
    assert embedded_stack.client().http.get("/healthz", headers=fits).status_code == 200


def test_a_connection_that_sends_no_complete_head_is_closed(embedded_stack):
    idle, slow = connect(embedded_stack), connect(embedded_stack)
    opened = time.monotonic()
    with idle, slow:
        assert exchange(idle, b"") == b""
        assert exchange(slow, b"GET /healthz HTTP/1.1\r\n") == b""  # the rest of its head never comes
    assert time.monotonic() - opened < HEAD_TIMEOUT_S + 10
