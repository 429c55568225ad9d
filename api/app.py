"""The FastAPI app factory: the same app in both modes, only the backend behind it differs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from worker.backend import open_backend
from worker.judging import ServiceJudge
from worker.settings import Settings

from .errors import install_error_handlers
from .metrics import Metrics, MetricsMiddleware
from .routers import docs, health, jobs, page, score
from .upload_limit import UploadLimitMiddleware

DESCRIPTION = """Reward-conditioned, instruction-based image editing.

Submit an image and an instruction to `POST /edit`, then follow the job at `/jobs/{id}`
(or its server-sent events) and fetch the PNG from `/jobs/{id}/result`. With a judge
configured, `POST /score` judges an edit and `candidates` > 1 keeps the best of several seeds.
Errors are `{"error": {"code", "message"}}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Embedded mode loads the model here, so a bad checkpoint (or judge setup) stops the start, not a job.
        with ExitStack() as resources:
            # The broker mode's API needs the judge for POST /score only: a model judge loads on first use.
            app.state.judge = await run_in_threadpool(ServiceJudge.open, settings, not settings.embedded)
            if app.state.judge is not None:
                resources.callback(app.state.judge.close)
            app.state.backend = await run_in_threadpool(open_backend, settings, app.state.judge)
            resources.callback(app.state.backend.close)
            yield

    app = FastAPI(
        title="RewardEdit",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url=None,  # served by routers/docs.py, which can require a key
        docs_url=None,
        redoc_url=None,
    )
    docs.describe(app, with_security=bool(settings.api_keys))
    app.state.settings = settings
    app.state.metrics = Metrics()
    install_error_handlers(app)
    app.add_middleware(UploadLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)  # outermost: sees every answer
    for module in (jobs, score, health, page, docs):
        app.include_router(module.router)
    app.mount("/static", page.static_files(), name="static")
    return app
