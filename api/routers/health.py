"""/healthz (this process answers), /readyz (store reachable, a worker alive) and /metrics.

/healthz stays a liveness check, 200 whenever this process answers, but says whether the broker
answers too; with API keys configured it shows no file-system paths.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from worker.backend import BROKER, Backend
from worker.settings import Settings
from worker.store import StoreUnavailable

from ..dependencies import Store, get_backend, get_settings, require_ops_access
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


def broker_state(backend: Backend) -> str | None:
    """Whether the broker answers now: "reachable" or "unreachable"; None in the embedded mode."""
    if backend.mode != BROKER:
        return None
    try:
        backend.store.ping()
    except StoreUnavailable:
        return "unreachable"
    return "reachable"


@router.get("/healthz", response_model=Health, summary="The API process is alive")
def healthz(
    backend: Annotated[Backend, Depends(get_backend)], settings: Annotated[Settings, Depends(get_settings)]
) -> Health:
    broker = broker_state(backend)
    models = served_models(backend) if broker != "unreachable" else []
    notice = model_notice(models)
    if settings.api_keys:  # where clients are strangers, they see no file-system paths
        models = [{name: value for name, value in model.items() if name != "path"} for model in models]
    return Health(status="ok", mode=backend.mode, broker=broker, models=models, notice=notice)


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


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[Depends(require_ops_access)],
    summary="Prometheus metrics",
)
def metrics(request: Request, store: Store) -> Response:
    return Response(request.app.state.metrics.render(store), media_type=CONTENT_TYPE_LATEST)
