"""The web page in headless Chromium against the real service: samples, upload, sliders, progress, result."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from PIL import Image

from api.routers.page import SAMPLE_INDEX
from model.pipeline_config import PipelineConfig
from worker.model_source import DEMO_MODEL

from .conftest import API_KEY, CHROMIUM
from .samples import FOLDER, samples
from .samples import SIDE as SAMPLE_SIDE

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is in the dev extra: run `make test`"
)
if not CHROMIUM.exists():
    pytest.skip(f"no {CHROMIUM}: `make test` installs Debian's chromium", allow_module_level=True)
expect = sync_api.expect

STEPS = 12
SIDE = 128  # about 260 ms a step for the demo model on one CPU thread: progress is visible
JOB_TIMEOUT_MS = 30_000
UPSCALED = re.compile(r"\bupscaled\b")  # the class of a preview drawn with hard pixel edges
DEMO_SAMPLING = PipelineConfig.from_folder(DEMO_MODEL).sampling  # what `make serve` edits with by default
SUGGESTIONS = {
    file: entry["instruction"]
    for file, entry in json.loads((FOLDER / SAMPLE_INDEX).read_text(encoding="utf-8")).items()
}

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


def sample(file: str) -> str:
    """The sample button of an image under api/static/samples/."""
    return f".sample[data-src='/static/samples/{file}']"


def pick(page: sync_api.Page, file: str) -> None:
    """Click a sample and wait until the page has taken it (and made any suggestion)."""
    page.eval_on_selector("#job-status", "status => (status.textContent = '')")
    page.click(sample(file))
    expect(page.locator("#job-status")).to_contain_text("Source ready")


def upscaled_sample(path: Path, side: int) -> Path:
    """The first sample scaled up to side px (hard edges), as an upload."""
    samples()[0].image.resize((side, side), Image.Resampling.NEAREST).save(path)
    return path


def job_json(url: str, job_id: str) -> dict:
    response = httpx.get(f"{url}/jobs/{job_id}", headers={"Authorization": f"Bearer {API_KEY}"})
    assert response.status_code == 200, response.text
    return response.json()


def test_edit_with_sliders_see_progress_and_result_then_rerun_with_the_same_seed(
    page, service, screenshot_dir, tmp_path
):
    source = upscaled_sample(tmp_path / "source.png", SIDE)
    event_requests: list[sync_api.Request] = []
    page.on("request", lambda request: event_requests.append(request) if "/events" in request.url else None)
    page.add_init_script(RECORD_PROGRESS)
    page.goto("/")
    expect(page.locator(".notice")).to_contain_text("This is the demo model")
    expect(page.locator("#service-status")).to_contain_text("ready · 1 worker")
    # Fields left empty ask for the served model's own settings, which the page shows greyed out.
    steps, guidance = DEMO_SAMPLING.num_inference_steps, DEMO_SAMPLING.guidance_scale
    expect(page.locator("#field-steps")).to_have_attribute("placeholder", str(steps))
    expect(page.locator("#field-guidance_scale")).to_have_attribute("placeholder", f"{guidance:g}")

    page.set_input_files("#image-file", source)
    expect(page.locator("#source-preview")).to_be_visible()
    page.fill("#field-instruction", "make the green cross blue")

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
    page.select_option("#field-scheduler", "dpmpp_2m")

    first = submitted_job(page, "#submit")
    params = first["params"]
    assert (params["following"], params["preserving"], params["quality"]) == (4.0, 5.0, 5.0)
    assert params["quality_text"] == "slightly blurry" and params["following_text"] == "None"
    assert (params["steps"], params["max_side"], params["scheduler"]) == (STEPS, SIDE, "dpmpp_2m")

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
    assert params["guidance_scale"] is None  # left empty: the worker fills in the model's default
    done = job_json(service.url, first["id"])
    assert done["status"] == "succeeded" and done["params"]["guidance_scale"] == guidance

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
    expect(page.locator("#history li").first).to_contain_text("make the green cross blue")


def test_samples_are_crisp_64_px_scenes_that_suggest_their_instruction(page):
    page.goto("/")
    buttons = page.locator(".sample")
    expect(buttons).to_have_count(len(SUGGESTIONS))
    for file, suggestion in SUGGESTIONS.items():
        expect(page.locator(sample(file))).to_have_attribute("title", suggestion)
    thumb = page.locator(f"{sample('local.png')} img")
    assert thumb.evaluate("img => getComputedStyle(img).imageRendering") == "pixelated"
    assert thumb.evaluate("img => img.clientWidth") > SAMPLE_SIDE  # scaled up

    instruction = page.locator("#field-instruction")
    with page.expect_response(lambda response: response.url.endswith("/static/samples/local.png")):
        page.click(sample("local.png"))
    expect(instruction).to_have_value(SUGGESTIONS["local.png"])
    expect(page.locator(sample("local.png"))).to_have_attribute("aria-pressed", "true")
    preview = page.locator("#source-preview")
    expect(preview).to_be_visible()
    expect(preview).to_have_class(UPSCALED)
    assert preview.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [SAMPLE_SIDE, SAMPLE_SIDE]

    page.click(sample("add.png"))  # another sample's suggestion replaces the last one's
    expect(instruction).to_have_value(SUGGESTIONS["add.png"])


def test_a_sample_never_overwrites_the_users_own_instruction(page, tmp_path):
    page.goto("/")
    instruction = page.locator("#field-instruction")
    page.fill("#field-instruction", "make the pink square blue")
    pick(page, "remove.png")
    expect(instruction).to_have_value("make the pink square blue")

    page.fill("#field-instruction", "")  # emptied: the next sample may suggest again
    pick(page, "style.png")
    expect(instruction).to_have_value(SUGGESTIONS["style.png"])
    instruction.press("End")
    instruction.press_sequentially(" please")  # the suggestion, edited: the user's words now
    pick(page, "global.png")
    expect(instruction).to_have_value(f"{SUGGESTIONS['style.png']} please")

    page.fill("#field-instruction", "")
    pick(page, "style.png")
    expect(page.locator("#source-preview")).to_have_class(UPSCALED)
    page.set_input_files("#image-file", upscaled_sample(tmp_path / "upload.png", 512))
    expect(instruction).to_have_value("")  # a suggestion belongs to its sample, not to an upload
    expect(page.locator("#source-preview")).not_to_have_class(UPSCALED)  # shown smaller: smooth


def test_a_field_error_shown_readably(page):
    page.goto("/")
    page.click("summary:has-text('API key')")
    page.fill("#api-key", API_KEY)
    page.click(sample("add.png"))
    expect(page.locator("#field-instruction")).to_have_value(SUGGESTIONS["add.png"])
    page.click("summary:has-text('Advanced settings')")
    page.fill("#field-steps", "500")
    page.click("#submit")
    expect(page.locator("#error")).to_have_text(re.compile(r"^invalid_field: steps: .*150 \(HTTP 422\)$"))
    expect(page.locator("#history li")).to_have_count(0)


def test_cancel_a_running_edit(page, tmp_path):
    page.goto("/")
    page.click("summary:has-text('API key')")
    page.fill("#api-key", API_KEY)
    page.set_input_files("#image-file", upscaled_sample(tmp_path / "source.png", 256))
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
    page.click(sample("background.png"))
    expect(page.locator("#source-preview")).to_be_visible()
    page.fill("#field-instruction", "make it snowy")
    page.click("summary:has-text('Advanced settings')")
    page.fill("#field-steps", "3")
    submitted_job(page, "#submit")
    expect(page.locator("#result-image")).to_be_visible(timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#job-status")).to_contain_text("Done")
    assert len(dropped) == 1
