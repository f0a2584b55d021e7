"""`POST /api/v1/{task}/recognize`: validate, look up the cache, forward, cache, answer.

A task's options (the parameters its recognizer reads besides the image and the model) are those
its catalogue names: only they reach the service and the cache key. Their values are the
service's to validate (400 from it, passed through); the OpenAPI document lists them with the
schemas the catalogue gives (gateway.openapi).
"""

from __future__ import annotations

import json
import re
import time
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.api.deps import GatewayState, backend_for, resolve_model
from gateway.api.schemas import (
    BASE64_IMAGE,
    ERROR_RESPONSES,
    FORM_BOUNDS,
    IMAGE_FILE,
    JSON_BOUNDS,
    TASK_PARAMETER,
    RecognizeResponse,
)
from gateway.backends import Backend
from gateway.cache import cache_key
from gateway.fetch import UrlPolicy, fetch_image
from recognition_common.edge import errors
from recognition_common.edge.errors import ApiError
from recognition_common.edge.imaging import inspect_image
from recognition_common.edge.intake import read_image_upload

router = APIRouter()

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")  # a caller's request id kept as given

_REQUEST_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": IMAGE_FILE,
                    "model": {"type": "string", "description": "Model name; default per task"},
                },
                **FORM_BOUNDS,
            }
        },
        "application/json": {
            "schema": {
                "type": "object",
                "description": "Exactly one of image_base64 and image_url",
                "oneOf": [{"required": ["image_base64"]}, {"required": ["image_url"]}],
                "properties": {
                    "image_base64": {
                        **BASE64_IMAGE,
                        "description": "The image, base64, optionally with a data: URL prefix "
                        "(the URL-safe alphabet, line breaks and missing padding are taken too)",
                    },
                    "image_url": {
                        "type": "string",
                        "format": "uri",
                        "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#]",
                        "description": "http(s) address of the image, fetched by the gateway from "
                        "public addresses only (400 url_refused otherwise; 422 url_unreachable "
                        "when it cannot be fetched in time; 413 over the size limit)",
                    },
                    "model": {"type": ["string", "null"], "description": "null: the task's default"},
                },
                **JSON_BOUNDS,
            }
        },
    },
}


def request_id_of(request: Request) -> str:
    """The caller's X-Request-ID when it is sane, otherwise a new one."""
    incoming = request.headers.get("x-request-id", "")
    return incoming if REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex


@router.post(
    "/api/v1/{task}/recognize",
    summary="Recognize an image",
    response_model=RecognizeResponse,
    responses=ERROR_RESPONSES,
    openapi_extra={
        "requestBody": _REQUEST_BODY,
        "parameters": [
            TASK_PARAMETER,
            {"name": "model", "in": "query", "required": False, "schema": {"type": "string"}},
            # Each task's options are added from its catalogue (gateway.openapi).
        ],
    },
)
async def recognize(request: Request) -> Response:
    # The hot path of the whole system: no FastAPI dependencies or parameter models here (they
    # cost more than a Redis round trip); the task comes straight from the path.
    started = time.perf_counter()
    state: GatewayState = request.app.state.gateway
    task: str = request.path_params["task"]
    request_id = request_id_of(request)
    cache_state = "none"
    status = "error"
    try:
        backend = backend_for(state, task)
        upload = await read_image_upload(request, accept_url=True)
        # The backend's part of the request (its model list, then its answer) has one timeout in
        # all: a hung backend costs a request one timeout, however the time is spent.
        deadline = time.monotonic() + backend.timeout_s
        catalogue, model = await resolve_model(backend, upload.model, deadline)
        card = catalogue.models[model]
        image = upload.data
        if upload.image_url is not None:
            # Fetched once the task and model are known to be good; from here on the bytes are
            # an upload like any other: sniffed by content, cached, forwarded. The fetch has a
            # timeout of its own and does not count against the backend's.
            fetch_started = time.monotonic()
            image = await fetch_image(upload.image_url, UrlPolicy.from_settings(state.settings))
            deadline += time.monotonic() - fetch_started
        # Only the options this task's recognizer reads reach it and the cache key; others are
        # ignored, so a stray parameter can neither change an answer nor split the cache.
        options = {name: value for name, value in upload.options.items() if name in catalogue.options}
        version, fingerprint = card["version"], card.get("fingerprint")
        key = cache_key(task, model, version, catalogue.preprocess_version, image, options, fingerprint)

        fragment = await state.cache.get(key)
        if fragment is not None:
            cache_state = "hit"
        else:
            cache_state = "miss"
            fragment = await _recognize_uncached(
                state, backend, key, card, catalogue.preprocess_version, image, request_id, options, deadline
            )
        status = "200"
    except ApiError as exc:
        status = str(exc.status)
        if exc.code in (errors.BACKEND_UNAVAILABLE, errors.BACKEND_TIMEOUT):
            state.metrics.backend_errors.labels(task, exc.code).inc()
        exc.headers = {**exc.headers, "X-Request-ID": request_id}
        raise
    finally:
        elapsed = time.perf_counter() - started
        state.metrics.observe(task if task in state.backends else "unknown", status, cache_state, elapsed)

    # The cached fragment is the `"model":...,"result":...` part of the answer, stored as JSON
    # text; the envelope is written around it rather than decoding and re-encoding it.
    body = b"".join(
        (
            b'{"task":',
            json.dumps(task).encode(),
            b",",
            fragment,
            b',"cached":',
            b"true" if cache_state == "hit" else b"false",
            b',"elapsed_ms":',
            str(round(elapsed * 1000, 2)).encode(),
            b',"request_id":"',
            request_id.encode(),
            b'"}',
        )
    )
    return Response(
        body,
        media_type="application/json",
        headers={"X-Cache": cache_state.upper(), "X-Request-ID": request_id},
    )


async def _recognize_uncached(
    state: GatewayState,
    backend: Backend,
    key: str,
    card: dict,
    preprocess_version: str,
    image: bytes,
    request_id: str,
    options: dict[str, str],
    deadline: float,
) -> bytes:
    """Validate, ask the backend, cache the answer under `key` (the cache key of the model the
    catalogue expected); return its `"model":...,"result":...` fragment."""
    inspect_image(image, state.settings.image_limits)
    model = card["name"]
    reply = await backend.recognize(image, model, request_id, options, deadline)
    try:
        answer = reply.json() if reply.body else {}
    except ValueError:
        answer = {}
    if reply.status != 200:
        raise _backend_error(reply.status, answer, reply.headers)
    served = answer["model"]
    if (
        served["version"] != card["version"]
        or served.get("fingerprint") != card.get("fingerprint")
        or answer["preprocess_version"] != preprocess_version
    ):
        backend.refresh_soon()  # the backend swapped (or reloaded) models under us
        # Stored under the model that actually computed it, never under the expected one.
        version, fingerprint = served["version"], served.get("fingerprint")
        key = cache_key(
            backend.task, model, version, answer["preprocess_version"], image, options, fingerprint
        )
    fragment = json.dumps({"model": served, "result": answer["result"]})[1:-1].encode()
    await state.cache.set(key, fragment)
    return fragment


def _backend_error(status: int, answer: dict, headers: dict[str, str]) -> ApiError:
    """Pass the backend's own 4xx/503 error through; anything else is a bad gateway."""
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(error, dict) and status in (400, 404, 413, 415, 422, 503):
        retry = {"Retry-After": headers["retry-after"]} if "retry-after" in headers else {}
        return ApiError(status, str(error.get("code")), str(error.get("message")), retry)
    return ApiError(502, errors.BACKEND_UNAVAILABLE, f"the backend failed with status {status}")
