"""The API's own description: /openapi.json, /docs and /redoc, open or key-protected as configured.

FastAPI's built-in routes take no dependencies, so the app serves these itself. The schema
declares bearer security only where the service has keys: without them no request needs one.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from ..dependencies import require_ops_access

OPENAPI_URL = "/openapi.json"
router = APIRouter(include_in_schema=False, dependencies=[Depends(require_ops_access)])


def strip_security(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema without security schemes or requirements (a service that has no API keys)."""
    schema.get("components", {}).pop("securitySchemes", None)
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            operation.pop("security", None)
    return schema


def describe(app: FastAPI, with_security: bool) -> None:
    """Make app.openapi() declare bearer security only with_security."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        return generate() if with_security else strip_security(generate())

    app.openapi = openapi


@router.get(OPENAPI_URL)
def openapi_schema(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url=OPENAPI_URL, title=f"{request.app.title} - Swagger UI")


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(openapi_url=OPENAPI_URL, title=f"{request.app.title} - ReDoc")
