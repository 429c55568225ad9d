"""GET /: a placeholder page (the real one, with upload and reward sliders, comes with deployment)."""

from __future__ import annotations

import html
from importlib.resources import files
from string import Template
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from worker.backend import Backend
from worker.model_source import UNTRAINED_NOTICE

from ..dependencies import get_backend
from .health import served_models

router = APIRouter(include_in_schema=False)
PAGE = Template(files("api").joinpath("page.html").read_text(encoding="utf-8"))


@router.get("/", response_class=HTMLResponse)
def page(request: Request, backend: Annotated[Backend, Depends(get_backend)]) -> HTMLResponse:
    untrained = any(model["untrained"] for model in served_models(backend))
    notice = f'<p class="notice"><strong>Untrained model.</strong> {html.escape(UNTRAINED_NOTICE)}</p>'
    origin = html.escape(str(request.base_url).rstrip("/"))
    return HTMLResponse(PAGE.substitute(notice=notice if untrained else "", origin=origin))
