"""Service test fixtures: a real redis-server, `rewardedit worker` and `rewardedit serve` processes.

Each stack uses its own Redis namespace (keys and queue), so an external REDIS_URL is safe to use.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from api.local_stack import RedisServer
from model import RewardEditPipeline
from worker.local_store import LocalJobStore
from worker.model_source import DEMO_MODEL

from .helpers import API_KEYS, MAX_UPLOAD_BYTES, Stack, encode, start_stack


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_URL when set, else a private redis-server on a free port."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    if shutil.which("redis-server") is None:
        pytest.fail("the service tests need redis-server on PATH, or REDIS_URL set")
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def broker_stack(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, tiny_checkpoint: Path
) -> Iterator[Stack]:
    """Redis + one worker + the API, with two API keys and a 2 MiB upload limit."""
    stack = start_stack(
        tmp_path_factory.mktemp("broker"),
        tiny_checkpoint,
        redis_url,
        REWARDEDIT_API_KEYS=",".join(API_KEYS),
        REWARDEDIT_MAX_UPLOAD_BYTES=str(MAX_UPLOAD_BYTES),
    )
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def embedded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`rewardedit serve` alone, as `make serve` runs it: no broker, no key, the default model."""
    stack = start_stack(tmp_path_factory.mktemp("embedded"), model=None)
    yield stack
    stack.stop()


@pytest.fixture(params=["embedded", "broker"])
def any_stack(request: pytest.FixtureRequest) -> Stack:
    return request.getfixturevalue(f"{request.param}_stack")


@pytest.fixture
def local_store(tmp_path: Path) -> Iterator[LocalJobStore]:
    """The embedded mode's job store, in the test's own folder."""
    store = LocalJobStore(tmp_path / "blobs", ttl_s=3600)
    yield store
    store.close()


@pytest.fixture(scope="session")
def reference_pipe(tiny_checkpoint: Path) -> RewardEditPipeline:
    """The pipeline in this process, for the pixels a job must reproduce."""
    return RewardEditPipeline.from_pretrained(tiny_checkpoint)


@pytest.fixture(scope="session")
def demo_pipe() -> RewardEditPipeline:
    """The default model's pipeline: what the embedded stack (started without --model) serves."""
    return RewardEditPipeline.from_pretrained(DEMO_MODEL)


@pytest.fixture
def source_png(source_image: Image.Image) -> bytes:
    return encode(source_image)


@pytest.fixture
def slow_png(source_image: Image.Image) -> bytes:
    """A 512 px source: 150 steps on it keep a job running for minutes, unless it is stopped."""
    return encode(source_image.resize((512, 512)))
