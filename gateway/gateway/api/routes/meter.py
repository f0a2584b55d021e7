"""Meter-only passthrough route: the demo photos.

* `GET /api/v1/meter/demo`   a zip of sample meter photos from the meter service (`GET /v1/demo`),
                             for trying the recognizer without a meter at hand (the page links it)

Forwarded as it is (gateway.api.passthrough), like the captcha routes: the service answers in
the platform's error format, and a service that is down or not configured is 503 / 404 here.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.api.passthrough import passthrough_response, task_backend
from gateway.api.routes.recognize import request_id_of
from gateway.api.schemas import ERROR_RESPONSES

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
    backend = task_backend(request, "meter")
    reply = await backend.forward("GET", "/v1/demo", headers={"x-request-id": request_id})
    # A download, not a page: browsers save it under this name (unless the service named it).
    download = {"content-disposition": f'attachment; filename="{DEMO_FILENAME}"'}
    return passthrough_response(reply, request_id, _PASSED_HEADERS, download if reply.status == 200 else None)
