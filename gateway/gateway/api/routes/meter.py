"""Meter-only passthrough route: the demo photos.

* `GET /api/v1/meter/demo`   a zip of sample meter photos from the meter service (`GET /v1/demo`),
                             for trying the recognizer without a meter at hand (the page links it)

Forwarded as it is, like the captcha routes (gateway.api.routes.captcha): the service answers in
the platform's error format, and a service that is down or not configured is 503 / 404 here.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.api.deps import GatewayState
from gateway.api.routes.recognize import request_id_of
from gateway.api.schemas import ERROR_RESPONSES
from recognition_common import errors
from recognition_common.errors import ApiError

router = APIRouter()

_PASSED_HEADERS = ("content-type", "content-disposition", "cache-control", "etag", "retry-after")
DEMO_FILENAME = "meter-demo.zip"


@router.get(
    "/api/v1/meter/demo",
    summary="Sample water-meter photos to try the meter task with (a zip)",
    response_class=Response,
    responses={
        200: {"content": {"application/zip": {}}, "description": "A zip of sample meter photos"},
        **{status: ERROR_RESPONSES[status] for status in (404, 503, 504)},
    },
)
async def meter_demo(request: Request) -> Response:
    request_id = request_id_of(request)
    state: GatewayState = request.app.state.gateway
    backend = state.backends.get("meter")
    if backend is None:
        raise ApiError(404, errors.UNKNOWN_TASK, "the meter task is not configured on this gateway")
    reply = await backend.forward("GET", "/v1/demo", headers={"x-request-id": request_id})
    passed = {name.lower(): value for name, value in reply.headers.items() if name.lower() in _PASSED_HEADERS}
    media_type = passed.pop("content-type", "application/json")
    if reply.status == 200 and "content-disposition" not in passed:
        # A download, not a page: browsers save it under this name.
        passed["content-disposition"] = f'attachment; filename="{DEMO_FILENAME}"'
    return Response(
        reply.body,
        status_code=reply.status,
        media_type=media_type,
        headers={**passed, "X-Request-ID": request_id},
    )
