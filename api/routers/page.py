"""GET /: the web page (plain HTML, CSS and JS, no build step) and its files under /static.

The page takes its fields' bounds and defaults from the POST /edit form schema, so they never
drift from the API, and lists the sample images it finds next to it, each with the instruction
that samples.json suggests for it (a sample without one still works, with no suggestion).
"""

from __future__ import annotations

import html
import json
from importlib.resources import files
from string import Template
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from worker.backend import Backend

from ..dependencies import get_backend
from ..schemas import EditForm
from .health import model_notice, served_models

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

router = APIRouter(include_in_schema=False)
PACKAGE = files("api")
PAGE = Template(PACKAGE.joinpath("page.html").read_text(encoding="utf-8"))
SAMPLE_FOLDER = PACKAGE.joinpath("static/samples")
SAMPLE_INDEX = "samples.json"


def static_files() -> StaticFiles:
    """The page's script, style sheet and sample images, for the app to mount at /static."""
    return StaticFiles(packages=[("api", "static")])


def sample_names(folder: Traversable) -> list[str]:
    """Every PNG in the folder is offered, whether or not samples.json knows it."""
    return sorted(item.name for item in folder.iterdir() if item.name.endswith(".png"))


def suggestions(folder: Traversable) -> dict[str, str]:
    """File name -> suggested instruction, from the folder's samples.json; none where it is missing."""
    index = folder.joinpath(SAMPLE_INDEX)
    if not index.is_file():
        return {}
    entries = json.loads(index.read_text(encoding="utf-8"))
    return {name: entry["instruction"] for name, entry in entries.items()}


def sample_button(name: str, suggestion: str | None) -> str:
    """A button that makes the image the source and suggests its instruction (data-instruction), if any."""
    src, stem = html.escape(f"/static/samples/{name}"), html.escape(name.removesuffix(".png"))
    title = html.escape(suggestion) if suggestion else stem
    suggested = f' data-instruction="{title}"' if suggestion else ""
    image = f'<img src="{src}" alt="sample {stem}">'
    attributes = f'type="button" class="sample" data-src="{src}" title="{title}"{suggested}'
    return f"<button {attributes}>{image}</button>"


def sample_buttons(folder: Traversable) -> str:
    """The buttons are fixed for the process's life: the samples ship with the package."""
    suggested = suggestions(folder)
    return "\n".join(sample_button(name, suggested.get(name)) for name in sample_names(folder))


def form_schema() -> str:
    """The form fields' JSON schema, safe inside a <script> element."""
    return json.dumps(EditForm.model_json_schema()["properties"]).replace("</", "<\\/")


FIXED_PARTS = {"samples": sample_buttons(SAMPLE_FOLDER), "form_schema": form_schema()}


@router.get("/", response_class=HTMLResponse)
def page(backend: Annotated[Backend, Depends(get_backend)]) -> HTMLResponse:
    notice = model_notice(served_models(backend))
    shown = f'<p class="notice">{html.escape(notice)}</p>' if notice else ""
    return HTMLResponse(PAGE.substitute(notice=shown, **FIXED_PARTS))
