"""Captcha-only passthrough routes: a fresh sample image, and batch recognition.

* `GET  /api/v1/captcha/sample[?model=]`   a new captcha PNG from the captcha service, its text in
                                           `X-Captcha-Text` (the page's "New sample" button)
* `POST /api/v1/captcha/recognize-batch`   several images in one request (multipart `files` or
                                           JSON `images_base64`), results in order; not cached

Both are forwarded as they are; the service validates and answers in the platform's error format.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.api.deps import GatewayState
from gateway.api.routes.recognize import request_id_of
from gateway.backends import Backend
from recognition_common import errors
from recognition_common.errors import ApiError

router = APIRouter()

_PASSED_HEADERS = ("content-type", "x-captcha-text", "x-captcha-model", "cache-control", "retry-after")


def _captcha_backend(request: Request) -> Backend:
    state: GatewayState = request.app.state.gateway
    backend = state.backends.get("captcha")
    if backend is None:
        raise ApiError(404, errors.UNKNOWN_TASK, "the captcha task is not configured on this gateway")
    return backend


def _reply(status: int, body: bytes, headers: dict[str, str], request_id: str) -> Response:
    passed = {name: value for name, value in headers.items() if name.lower() in _PASSED_HEADERS}
    media_type = passed.pop("content-type", "application/json")
    return Response(
        body, status_code=status, media_type=media_type, headers={**passed, "X-Request-ID": request_id}
    )


@router.get("/api/v1/captcha/sample", summary="A new captcha image (PNG); its text in X-Captcha-Text")
async def captcha_sample(request: Request) -> Response:
    request_id = request_id_of(request)
    params = {"model": request.query_params["model"]} if request.query_params.get("model") else None
    reply = await _captcha_backend(request).forward(
        "GET", "/captcha/", params=params, headers={"x-request-id": request_id}
    )
    return _reply(reply.status, reply.body, reply.headers, request_id)


@router.post("/api/v1/captcha/recognize-batch", summary="Recognize several captcha images, in order")
async def captcha_batch(request: Request) -> Response:
    request_id = request_id_of(request)
    headers = {"content-type": request.headers.get("content-type", ""), "x-request-id": request_id}
    reply = await _captcha_backend(request).forward(
        "POST",
        "/v1/recognize-batch",
        params=dict(request.query_params),
        content=await request.body(),
        headers=headers,
    )
    return _reply(reply.status, reply.body, reply.headers, request_id)
