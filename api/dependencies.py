"""FastAPI dependencies: multipart bodies, settings, job store, judge, API-key owner, the caller's job."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from worker.backend import Backend
from worker.jobs import JobRecord
from worker.judging import NOT_CONFIGURED, ServiceJudge
from worker.settings import Settings
from worker.store import JobStore

from .errors import ApiError

ANONYMOUS = "anonymous"
JOB_ID = re.compile(r"^[0-9a-f]{32}$")

bearer = HTTPBearer(auto_error=False, description="an API key, when the service has keys configured")


def require_multipart(request: Request) -> None:
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"{request.method} {request.url.path} takes multipart/form-data with images as file fields",
        )


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_backend(request: Request) -> Backend:
    return request.app.state.backend


def get_store(request: Request) -> JobStore:
    return request.app.state.backend.store


def get_judge(request: Request) -> ServiceJudge | None:
    return request.app.state.judge


def require_judge(judge: ServiceJudge | None) -> ServiceJudge:
    """The judge; without one, 501: this deployment lacks the feature (not bad input, not a fault)."""
    if judge is None:
        raise ApiError(501, NOT_CONFIGURED, "this service has no judge configured (REWARDEDIT_JUDGE)")
    return judge


def get_owner(
    settings: Annotated[Settings, Depends(get_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    """Who the caller is: a digest of their key (keys never reach the store), or anonymous."""
    if not settings.api_keys:
        return ANONYMOUS
    token = credentials.credentials if credentials is not None else ""
    if not any(hmac.compare_digest(token.encode(), key.encode()) for key in settings.api_keys):
        raise ApiError(
            401,
            "unauthorized",
            "a valid API key is required: Authorization: Bearer <key>",
            {"WWW-Authenticate": "Bearer"},
        )
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def require_ops_access(
    settings: Annotated[Settings, Depends(get_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """/metrics and the API docs: open, unless the settings protect them (then a key, if keys exist)."""
    if settings.protect_docs_and_metrics:
        get_owner(settings, credentials)


Owner = Annotated[str, Depends(get_owner)]
Store = Annotated[JobStore, Depends(get_store)]


def owned_job(
    job_id: Annotated[str, Path(description="the job's id")], owner: Owner, store: Store
) -> JobRecord:
    """The caller's job; an unknown id and someone else's job answer the same 404."""
    job = store.get(job_id) if JOB_ID.match(job_id) else None
    if job is None or job.owner != owner:
        raise ApiError(404, "not_found", f"no job {job_id!r}")
    return job


OwnedJob = Annotated[JobRecord, Depends(owned_job)]
