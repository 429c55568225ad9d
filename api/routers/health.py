"""/healthz (this process answers), /readyz (store reachable, a worker alive) and /metrics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from worker.backend import Backend
from worker.store import StoreUnavailable

from ..dependencies import Store, get_backend
from ..errors import ApiError
from ..schemas import ErrorBody, Health, Ready

router = APIRouter(tags=["service"])


def served_models(backend: Backend) -> list[dict[str, Any]]:
    """The distinct models the live workers announce (none when the store is unreachable)."""
    try:
        workers = backend.store.workers()
    except StoreUnavailable:
        return []
    models = [worker["model"] for worker in workers]
    return [model for index, model in enumerate(models) if model not in models[:index]]


def model_notice(models: list[dict[str, Any]]) -> str | None:
    """What users should know about the served models (the demo's limits), or None."""
    notices = [model["notice"] for model in models if model.get("notice")]
    return " ".join(dict.fromkeys(notices)) or None


@router.get("/healthz", response_model=Health, summary="The API process is alive")
def healthz(backend: Annotated[Backend, Depends(get_backend)]) -> Health:
    models = served_models(backend)
    return Health(status="ok", mode=backend.mode, models=models, notice=model_notice(models))


@router.get(
    "/readyz", response_model=Ready, responses={503: {"model": ErrorBody}}, summary="Jobs can run now"
)
def readyz(store: Store) -> Ready:
    try:
        store.ping()
        workers = store.workers()
    except StoreUnavailable as exc:
        raise ApiError(503, "not_ready", f"the job store is unreachable: {exc}") from exc
    if not workers:
        raise ApiError(503, "not_ready", "no worker is alive")
    return Ready(status="ready", workers=len(workers))


@router.get("/metrics", response_class=Response, summary="Prometheus metrics")
def metrics(request: Request, store: Store) -> Response:
    return Response(request.app.state.metrics.render(store), media_type=CONTENT_TYPE_LATEST)
