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

from gateway.api.passthrough import passthrough_response, task_backend
from gateway.api.routes.recognize import request_id_of
from gateway.api.schemas import ERROR_RESPONSES, CaptchaBatchResponse

router = APIRouter()

_PASSED_HEADERS = ("content-type", "x-captcha-text", "x-captcha-model", "cache-control", "retry-after")


_MODEL_PARAMETER = {
    "name": "model",
    "in": "query",
    "required": False,
    "schema": {"type": "string"},
    "description": "captcha model; default: the service's default",
}

_BATCH_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["files"],
                "properties": {
                    "files": {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "minItems": 1,
                        "maxItems": 64,
                        "description": "The images, one part each (at most CAPTCHA_MAX_BATCH_IMAGES, 64)",
                    },
                    "model": {"type": "string"},
                },
                "additionalProperties": {"type": "string"},
                "maxProperties": 9,  # the files and at most 8 other fields
            }
        },
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["images_base64"],
                "properties": {
                    "images_base64": {
                        "type": "array",
                        "items": {
                            "type": "string",
                            "description": "An image in base64, as image_base64 of /recognize; one "
                            "that is not (or is no image) gets its own 4xx entry in results",
                        },
                        "minItems": 1,
                        "maxItems": 64,
                    },
                    "model": {"type": ["string", "null"], "description": "null: the default model"},
                },
            }
        },
    },
}


@router.get(
    "/api/v1/captcha/sample",
    summary="A new captcha image (PNG); its text in X-Captcha-Text",
    response_class=Response,
    responses={
        200: {
            "description": "A freshly rendered captcha",
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
            "headers": {
                "X-Captcha-Text": {"schema": {"type": "string"}, "description": "What the image says"},
                "X-Captcha-Model": {"schema": {"type": "string"}, "description": "The model it is for"},
            },
        },
        **{status: ERROR_RESPONSES[status] for status in (401, 404, 429, 502, 503, 504)},
    },
    openapi_extra={"parameters": [_MODEL_PARAMETER]},
)
async def captcha_sample(request: Request) -> Response:
    request_id = request_id_of(request)
    params = {"model": request.query_params["model"]} if request.query_params.get("model") else None
    reply = await task_backend(request, "captcha").forward(
        "GET", "/captcha/", params=params, headers={"x-request-id": request_id}
    )
    return passthrough_response(reply, request_id, _PASSED_HEADERS)


@router.post(
    "/api/v1/captcha/recognize-batch",
    summary="Recognize several captcha images, in order",
    response_class=Response,
    responses={
        200: {"model": CaptchaBatchResponse, "description": "One result or error per image, in order"},
        **{status: ERROR_RESPONSES[status] for status in (400, 401, 404, 413, 429, 502, 503, 504)},
    },
    openapi_extra={"requestBody": _BATCH_BODY, "parameters": [_MODEL_PARAMETER]},
)
async def captcha_batch(request: Request) -> Response:
    request_id = request_id_of(request)
    headers = {"content-type": request.headers.get("content-type", ""), "x-request-id": request_id}
    reply = await task_backend(request, "captcha").forward(
        "POST",
        "/v1/recognize-batch",
        params=dict(request.query_params),
        content=await request.body(),
        headers=headers,
    )
    return passthrough_response(reply, request_id, _PASSED_HEADERS)
