"""Browser test fixtures: the real service (embedded, over HTTP) and Debian's headless Chromium.

Playwright drives /usr/bin/chromium (installed by `make test` with apt); it never downloads a
browser of its own. Playwright is imported inside the fixtures, so that where it or Chromium is
missing, the test module skips with the reason rather than this file failing to import.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from api.local_stack import Service

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
API_KEY = "web-key"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """`rewardedit serve` as `make serve` runs it (the demo default model), with a key."""
    workdir = tmp_path_factory.mktemp("web")
    settings = {
        "REWARDEDIT_DATA_DIR": str(workdir / "data"),
        "REWARDEDIT_API_KEYS": API_KEY,
        "REWARDEDIT_TORCH_THREADS": "1",
        "REWARDEDIT_HEARTBEAT_S": "0.5",
    }
    service = Service(workdir, settings)
    try:
        yield service.wait_ready()
    finally:
        service.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser, service: Service) -> Iterator[Page]:
    """A fresh page (its own sessionStorage) on the service, failing on any script error."""
    context = browser.new_context(base_url=service.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, errors


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser tests save screenshots, to look at after a run (pytest keeps its last tmp dirs)."""
    return tmp_path_factory.mktemp("screenshots")
