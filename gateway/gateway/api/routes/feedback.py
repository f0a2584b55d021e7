"""Corrections: `POST /api/v1/{task}/feedback`, `GET .../feedback`, `GET .../feedback/export`.

A user who got a wrong answer sends the image back with the right one. The image goes through
the same intake as a recognition (size, type by content, decompression bombs), the label is
checked against the task and the model it corrects (`gateway.labels`), and the pair is kept in
the gateway's `FeedbackStore`. The export is a zip in the training commands' layout with a
`manifest.csv`, so corrections feed the same commands as any other data. API keys and rate
limits apply as to every `/api/v1/` route.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from gateway.api.deps import GatewayState, backend_for, resolve_model
from gateway.api.routes.recognize import REQUEST_ID
from gateway.api.schemas import (
    BASE64_IMAGE,
    ERROR_RESPONSES,
    FORM_BOUNDS,
    IMAGE_FILE,
    JSON_BOUNDS,
    TASK_PARAMETER,
    FeedbackEntry,
    FeedbackStored,
    FeedbackSummary,
)
from gateway.backends import Backend
from gateway.feedback import FeedbackStore, conflicting, summarize, write_export
from gateway.labels import check_label
from recognition_common.edge import errors
from recognition_common.edge.errors import ApiError
from recognition_common.edge.imaging import inspect_image
from recognition_common.edge.intake import (
    MAX_OPTION_LENGTH,
    read_image_upload,
)

router = APIRouter()

_FIELDS = {
    "text": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_OPTION_LENGTH,
        "description": "The right answer, as the task's model should have read it (422 "
        "invalid_label when it cannot be right for the task and model)",
    },
    "model": {"type": "string", "description": "The model that answered; default: the task's default"},
    "request_id": {
        "type": "string",
        "maxLength": MAX_OPTION_LENGTH,
        "description": "The request_id of the answer being corrected, kept with the correction",
    },
}
# A task's LabelRule may name a field stating the label's length; gateway.openapi documents it.
_REQUEST_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file", "text"],
                "properties": {
                    "file": IMAGE_FILE,
                    **_FIELDS,
                },
                **FORM_BOUNDS,
            }
        },
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["image_base64", "text"],
                "properties": {
                    "image_base64": {**BASE64_IMAGE, "description": "The image, base64"},
                    **_FIELDS,
                },
                **JSON_BOUNDS,
            }
        },
    },
}


def _task(request: Request) -> tuple[GatewayState, str, Backend, FeedbackStore]:
    state: GatewayState = request.app.state.gateway
    task: str = request.path_params["task"]
    backend = backend_for(state, task)
    if state.feedback is None:
        raise ApiError(
            404, errors.NOT_FOUND, "this gateway keeps no corrections (GATEWAY_FEEDBACK_DIR is empty)"
        )
    return state, task, backend, state.feedback


@router.post(
    "/api/v1/{task}/feedback",
    summary="Correct a wrong answer: the image and the right text",
    status_code=201,
    response_model=FeedbackStored,
    responses=ERROR_RESPONSES,
    openapi_extra={"requestBody": _REQUEST_BODY, "parameters": [TASK_PARAMETER]},
)
async def add_feedback(request: Request) -> JSONResponse:
    state, task, backend, store = _task(request)
    upload = await read_image_upload(request)
    text = upload.options.get("text")
    if text is None:
        raise ApiError(422, errors.INVALID_LABEL, "send the right answer as the field 'text'")
    catalogue, model = await resolve_model(backend, upload.model, time.monotonic() + backend.timeout_s)
    card = catalogue.models[model]
    info = inspect_image(upload.data, state.settings.image_limits)
    rule = state.settings.label_rules.get(task)
    stated = upload.options.get(rule.length_field) if rule is not None and rule.length_field else None
    label, stated_length = check_label(rule, text, card, stated)
    request_id = upload.options.get("request_id")
    correction, duplicate = await run_in_threadpool(
        store.add,
        task,
        upload.data,
        info.format,
        label,
        model=model,
        model_version=card.get("version"),
        request_id=request_id if request_id and REQUEST_ID.fullmatch(request_id) else None,
        wheels=stated_length,
    )
    stored = await run_in_threadpool(store.corrections, task)
    answer = FeedbackStored(
        id=correction.id,
        task=task,
        text=correction.text,
        model=model,
        duplicate=duplicate,
        conflict=correction.id in conflicting(stored),
        corrections_for_model=sum(c.model == model for c in stored),
    )
    return JSONResponse(answer.model_dump(), status_code=201)


@router.get(
    "/api/v1/{task}/feedback",
    summary="Corrections collected for a task: counts and the newest",
    response_model=FeedbackSummary,
    responses=ERROR_RESPONSES,
    openapi_extra={"parameters": [TASK_PARAMETER]},
)
async def feedback_summary(request: Request, limit: int = Query(20, ge=0, le=200)) -> FeedbackSummary:
    _, task, _, store = _task(request)
    corrections = await run_in_threadpool(store.corrections, task)
    summary = summarize(corrections, limit)
    return FeedbackSummary(
        task=task,
        total=summary.total,
        by_label=summary.by_label,
        by_model=summary.by_model,
        conflicts=summary.conflicts,
        newest=[
            FeedbackEntry(
                id=c.id,
                text=c.text,
                model=c.model,
                model_version=c.model_version,
                time=c.created,
                sha256=c.sha256,
                conflict=c.id in summary.conflicting,
            )
            for c in summary.newest
        ],
    )


EXPORT_CHUNK = 1 << 16
EXPORT_IN_MEMORY = 16 << 20  # bytes of zip kept in memory before it spills to a temporary file


@router.get(
    "/api/v1/{task}/feedback/export",
    summary="Every correction of a task as a zip for the training commands, with manifest.csv",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}},
        **ERROR_RESPONSES,
    },
    openapi_extra={"parameters": [TASK_PARAMETER]},
)
async def export_feedback(request: Request) -> StreamingResponse:
    state, task, _, store = _task(request)
    rule = state.settings.label_rules.get(task)
    folder_per_label = rule is not None and rule.folder_per_label

    def build() -> tempfile.SpooledTemporaryFile[bytes]:
        # Closed by chunks(), once the response has sent it.
        spooled: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(EXPORT_IN_MEMORY)  # noqa: SIM115
        write_export(store, store.corrections(task), spooled, folder_per_label=folder_per_label)
        spooled.seek(0)
        return spooled

    archive = await run_in_threadpool(build)

    def chunks() -> Iterator[bytes]:
        with archive:
            while chunk := archive.read(EXPORT_CHUNK):
                yield chunk

    return StreamingResponse(
        chunks(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{task}-feedback.zip"'},
    )
