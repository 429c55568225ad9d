"""Fixtures for the judge tests: a scripted chat-completions server on loopback, an edit to judge, and a
tiny EditReward model."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from PIL import Image, ImageOps

from .chat_server import ChatServer, Respond
from .editreward_models import TinyEditReward, write_tiny_editreward


@pytest.fixture
def chat_server() -> Iterator[Callable[[Respond], ChatServer]]:
    """Start a server answering with `respond`; every server started is stopped after the test."""
    servers: list[ChatServer] = []

    def start(respond: Respond) -> ChatServer:
        servers.append(ChatServer(respond).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def edited_image(source_image: Image.Image) -> Image.Image:
    return ImageOps.invert(source_image)


@pytest.fixture(autouse=True)
def no_api_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REWARDEDIT_JUDGE_API_KEY", raising=False)


@pytest.fixture(scope="session")
def tiny_editreward(tmp_path_factory: pytest.TempPathFactory) -> TinyEditReward:
    """A tiny EditReward base folder and reward checkpoint in the released layouts (written once)."""
    return write_tiny_editreward(tmp_path_factory.mktemp("editreward"))
