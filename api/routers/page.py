"""GET /: the web page (plain HTML, CSS and JS, no build step) and its files under /static.

The page takes its fields' bounds and defaults from the POST /edit form schema, so they never
drift from the API, and lists the sample images it finds next to it.
"""

from __future__ import annotations

import html
import json
from importlib.resources import files
from string import Template
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from worker.backend import Backend
from worker.model_source import UNTRAINED_NOTICE

from ..dependencies import get_backend
from ..schemas import EditForm
from .health import served_models

router = APIRouter(include_in_schema=False)
PACKAGE = files("api")
PAGE = Template(PACKAGE.joinpath("page.html").read_text(encoding="utf-8"))
SAMPLES = sorted(
    item.name for item in PACKAGE.joinpath("static/samples").iterdir() if item.name.endswith(".png")
)


def static_files() -> StaticFiles:
    """The page's script, style sheet and sample images, for the app to mount at /static."""
    return StaticFiles(packages=[("api", "static")])


def sample_button(name: str) -> str:
    src, title = html.escape(f"/static/samples/{name}"), html.escape(name.removesuffix(".png"))
    image = f'<img src="{src}" alt="{title}">'
    return f'<button type="button" class="sample" data-src="{src}" title="{title}">{image}</button>'


def form_schema() -> str:
    """The form fields' JSON schema, safe inside a <script> element."""
    return json.dumps(EditForm.model_json_schema()["properties"]).replace("</", "<\\/")


FIXED_PARTS = {"samples": "\n".join(map(sample_button, SAMPLES)), "form_schema": form_schema()}


@router.get("/", response_class=HTMLResponse)
def page(backend: Annotated[Backend, Depends(get_backend)]) -> HTMLResponse:
    untrained = any(model["untrained"] for model in served_models(backend))
    notice = f'<p class="notice"><strong>Untrained model.</strong> {html.escape(UNTRAINED_NOTICE)}</p>'
    return HTMLResponse(PAGE.substitute(notice=notice if untrained else "", **FIXED_PARTS))
