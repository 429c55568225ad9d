"""POST /score: the service's judge on an edit (source, edited, instruction) from three perspectives."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from judge import JudgeInputError, JudgeReplyError, JudgeRequestError
from worker.judging import ServiceJudge, judge_error, judgements_dict
from worker.settings import Settings

from ..dependencies import get_judge, get_owner, get_settings, require_judge, require_multipart
from ..errors import ApiError
from ..images import read_upload
from ..schemas import MAX_SIDE_LIMIT, ErrorBody, InstructionForm, JudgementsBody

logger = logging.getLogger(__name__)
router = APIRouter(tags=["judge"])

# 422 also: the judge cannot take this edit (unscorable_edit). 501: no judge configured.
# 502: the judge failed upstream (down after retries, unreadable reply).
SCORE_ERRORS = {status: {"model": ErrorBody} for status in (401, 413, 415, 422, 501, 502)}


@router.post(
    "/score",
    response_model=JudgementsBody,
    responses=SCORE_ERRORS,
    dependencies=[Depends(get_owner), Depends(require_multipart)],
    summary="Judge an edit: verdict, 0-5 score and what went wrong, per perspective",
)
async def score_edit(
    form: Annotated[InstructionForm, Form()],
    source: Annotated[UploadFile, File(description="the original image: PNG, JPEG or WebP")],
    edited: Annotated[UploadFile, File(description="the edited image: PNG, JPEG or WebP")],
    settings: Annotated[Settings, Depends(get_settings)],
    judge: Annotated[ServiceJudge | None, Depends(get_judge)],
) -> JudgementsBody:
    # Judged as POST /edit would see them: the same checks, upright RGB, long side at most the largest edit.
    # A bad request is told so (4xx) before a service without a judge says it lacks one (501).
    images = [
        await run_in_threadpool(read_upload, await upload.read(), MAX_SIDE_LIMIT, settings.max_pixels)
        for upload in (source, edited)
    ]
    judge = require_judge(judge)
    try:
        judgements = await judge.ajudge(*images, form.instruction)
    except (JudgeRequestError, JudgeReplyError) as exc:
        logger.warning("POST /score: %s", exc)
        error = judge_error(exc)
        status = 422 if isinstance(exc, JudgeInputError) else 502
        raise ApiError(status, error["code"], error["message"]) from exc
    return JudgementsBody(**judgements_dict(judgements))
