"""The web page in headless Chromium against the real service: upload, sliders, progress, result."""

from __future__ import annotations

import io
import re

import httpx
import pytest
from PIL import Image

from .conftest import API_KEY, CHROMIUM
from .samples import SAMPLES

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is in the dev extra: run `make test`"
)
if not CHROMIUM.exists():
    pytest.skip(f"no {CHROMIUM}: `make test` installs Debian's chromium", allow_module_level=True)
expect = sync_api.expect

STEPS = 12
SIDE = 128  # about 60 ms a step for the tiny model on one CPU thread: progress is visible
JOB_TIMEOUT_MS = 30_000

# Records every value the progress bar shows, as the page sets it.
RECORD_PROGRESS = """
window.progressSeen = [];
new MutationObserver((changes) => {
  for (const change of changes) {
    if (change.target.id === "progress") {
      window.progressSeen.push([change.target.value, change.target.max]);
    }
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ["value", "max"]});
"""


def submitted_job(page: sync_api.Page, button: str) -> dict:
    """Click a submitting button: the job POST /edit answered, with the params the request carried.

    (Chromium does not hand a multipart body holding a file to Playwright, hence the job's echo.)
    """
    with page.expect_response(lambda response: response.url.endswith("/edit")) as answer:
        page.click(button)
    response = answer.value
    assert response.status == 202, response.text()
    return response.json()


def job_json(url: str, job_id: str) -> dict:
    response = httpx.get(f"{url}/jobs/{job_id}", headers={"Authorization": f"Bearer {API_KEY}"})
    assert response.status_code == 200, response.text
    return response.json()


def test_edit_with_sliders_see_progress_and_result_then_rerun_with_the_same_seed(
    page, service, screenshot_dir, tmp_path
):
    source = tmp_path / "source.png"
    SAMPLES["house"]().resize((SIDE, SIDE)).save(source)
    event_requests: list[sync_api.Request] = []
    page.on("request", lambda request: event_requests.append(request) if "/events" in request.url else None)
    page.add_init_script(RECORD_PROGRESS)
    page.goto("/")
    expect(page.locator(".notice")).to_contain_text("Untrained model")
    expect(page.locator("#service-status")).to_contain_text("ready · 1 worker")

    page.set_input_files("#image-file", source)
    expect(page.locator("#source-preview")).to_be_visible()
    page.fill("#field-instruction", "make the roof blue")

    # No key yet: the service's 401 is shown readably, and the key field opens.
    page.click("#submit")
    expect(page.locator("#error")).to_have_text(re.compile(r"^unauthorized: .*API key.* \(HTTP 401\)$"))
    page.fill("#api-key", API_KEY)

    slider = page.locator("#field-following")
    slider.focus()
    slider.press("ArrowLeft")
    slider.press("ArrowLeft")
    expect(page.locator("output[for='field-following']")).to_have_text("4.0")
    page.fill("#field-quality_text", "slightly blurry")
    page.click("summary:has-text('Advanced settings')")
    page.fill("#field-steps", str(STEPS))
    page.fill("#field-max_side", str(SIDE))

    first = submitted_job(page, "#submit")
    params = first["params"]
    assert (params["following"], params["preserving"], params["quality"]) == (4.0, 5.0, 5.0)
    assert params["quality_text"] == "slightly blurry" and params["following_text"] == "None"
    assert (params["steps"], params["max_side"]) == (STEPS, SIDE)

    expect(page.locator("#job-status")).to_contain_text("Done", timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#result-image")).to_be_visible()
    expect(page.locator("#error")).to_be_hidden()
    assert page.eval_on_selector("#result-image", "img => [img.naturalWidth, img.naturalHeight]") == [
        SIDE,
        SIDE,
    ]
    seen = page.evaluate("window.progressSeen")
    assert any(0 < value < total == STEPS for value, total in seen), seen  # live, not just the end
    assert [STEPS, STEPS] in seen
    assert event_requests and event_requests[0].all_headers()["authorization"] == f"Bearer {API_KEY}"
    assert job_json(service.url, first["id"])["status"] == "succeeded"

    # Rerun: the current sliders, the shown job's seed.
    quality = page.locator("#field-quality")
    quality.focus()
    quality.press("ArrowLeft")
    second = submitted_job(page, "#rerun")
    assert second["seed"] == first["seed"]
    assert (second["params"]["following"], second["params"]["quality"]) == (4.0, 4.5)
    expect(page.locator("#history li")).to_have_count(2)
    expect(page.locator(f"#history li[data-job='{second['id']}'] .state")).to_have_text(
        "succeeded", timeout=JOB_TIMEOUT_MS
    )
    expect(page.locator("#result-image")).to_be_visible()
    page.screenshot(path=screenshot_dir / "page.png", full_page=True)
    print(f"screenshot: {screenshot_dir / 'page.png'}")

    # The history is this browser session's: it survives a reload.
    page.reload()
    expect(page.locator("#history li")).to_have_count(2)
    expect(page.locator("#history li").first).to_contain_text("make the roof blue")


def test_a_sample_as_source_and_a_field_error_shown_readably(page):
    page.goto("/")
    page.click("summary:has-text('API key')")
    page.fill("#api-key", API_KEY)
    with page.expect_response(lambda response: "/static/samples/" in response.url and "lake" in response.url):
        page.click(".sample[title='lake']")
    expect(page.locator(".sample[title='lake']")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#source-preview")).to_be_visible()
    preview = page.eval_on_selector("#source-preview", "img => img.naturalWidth")
    assert preview == Image.open(io.BytesIO(page.request.get("/static/samples/lake.png").body())).width

    page.fill("#field-instruction", "add a boat")
    page.click("summary:has-text('Advanced settings')")
    page.fill("#field-steps", "500")
    page.click("#submit")
    expect(page.locator("#error")).to_have_text(re.compile(r"^invalid_field: steps: .*150 \(HTTP 422\)$"))
    expect(page.locator("#history li")).to_have_count(0)


def test_cancel_a_running_edit(page):
    page.goto("/")
    page.click("summary:has-text('API key')")
    page.fill("#api-key", API_KEY)
    page.click(".sample[title='fruit']")
    expect(page.locator("#source-preview")).to_be_visible()
    page.fill("#field-instruction", "paint it gold")
    page.click("summary:has-text('Advanced settings')")
    page.fill("#field-steps", "150")  # about 0.3 s a step at 256 px: still running when canceled
    job = submitted_job(page, "#submit")
    expect(page.locator("#job-status")).to_contain_text("Running: step", timeout=JOB_TIMEOUT_MS)
    page.click("#cancel")
    expect(page.locator("#job-status")).to_contain_text("Canceled", timeout=JOB_TIMEOUT_MS)
    expect(page.locator(f"#history li[data-job='{job['id']}'] .state")).to_have_text("canceled")
    expect(page.locator("#cancel")).to_be_hidden()
    expect(page.locator("#submit")).to_be_enabled()


def test_the_page_reconnects_when_the_event_stream_drops(page):
    dropped: list[str] = []

    def drop_first(route: sync_api.Route) -> None:
        if dropped:
            route.continue_()
        else:
            dropped.append(route.request.url)
            route.abort("connectionreset")

    page.route("**/jobs/*/events", drop_first)
    page.goto("/")
    page.click("summary:has-text('API key')")
    page.fill("#api-key", API_KEY)
    page.click(".sample[title='hills']")
    expect(page.locator("#source-preview")).to_be_visible()
    page.fill("#field-instruction", "make it snowy")
    page.click("summary:has-text('Advanced settings')")
    page.fill("#field-steps", "3")
    submitted_job(page, "#submit")
    expect(page.locator("#result-image")).to_be_visible(timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#job-status")).to_contain_text("Done")
    assert len(dropped) == 1
