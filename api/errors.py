"""Every error as `{"error": {"code", "message"}}`: our own, FastAPI's validation and Starlette's."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from worker.store import StoreUnavailable

logger = logging.getLogger(__name__)
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class ApiError(HTTPException):
    """An HTTP error with a stable machine-readable code."""

    def __init__(
        self, status_code: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status_code=status_code, detail=message, headers=headers)
        self.code = code


def error_response(
    status_code: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status_code, headers=headers
    )


def status_code_name(status_code: int) -> str:
    """Starlette's own errors (unknown route, bad method, unparsable body): a code from the status."""
    try:
        return HTTPStatus(status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def describe_validation_error(error: dict) -> str:
    """'following: Input should be less than or equal to 5' (the request part is left out)."""
    location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "header")]
    return f"{'.'.join(location) or 'request'}: {error.get('msg', 'is invalid')}"


def allowed_methods(request: Request) -> str:
    """Every method some route serves at the request's path (Starlette's 405 names one route's).

    Each method is put to the routes themselves, which also sees into included routers.
    """
    routes = request.app.router.routes
    allowed = [
        method
        for method in HTTP_METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    ]
    return ", ".join(allowed)


def install_error_handlers(app: FastAPI) -> None:
    def count(request: Request, code: str) -> None:
        request.app.state.metrics.errors.labels(code=code).inc()

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = getattr(exc, "code", None) or status_code_name(exc.status_code)
        message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        headers = exc.headers
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": allowed_methods(request)}
        count(request, code)
        return error_response(exc.status_code, code, message, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        count(request, "invalid_field")
        message = "; ".join(describe_validation_error(error) for error in exc.errors())
        return error_response(422, "invalid_field", message)

    @app.exception_handler(StoreUnavailable)
    async def unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
        logger.warning("%s %s: %s", request.method, request.url.path, exc)
        count(request, "unavailable")
        return error_response(
            503, "unavailable", "the job store is unreachable; retry shortly", {"Retry-After": "5"}
        )

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("%s %s failed", request.method, request.url.path)
        count(request, "internal_error")
        return error_response(500, "internal_error", "internal error; the service logged the details")
