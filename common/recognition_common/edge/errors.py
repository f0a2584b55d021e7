"""The one error format of the platform: `{"error": {"code", "message"}}` with a fitting status.

Every service and the gateway raise `ApiError` (or let FastAPI raise its own errors) and
`install_error_handlers` turns all of them, including unexpected exceptions, into that JSON shape,
so a client never sees an HTML page or a stack trace.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Send

logger = logging.getLogger("recognition.errors")

# Stable, documented error codes: clients switch on these, not on messages.
BAD_REQUEST = "bad_request"
NOT_FOUND = "not_found"
UNAUTHORIZED = "unauthorized"
RATE_LIMITED = "rate_limited"
UNKNOWN_TASK = "unknown_task"
UNKNOWN_MODEL = "unknown_model"
METHOD_NOT_ALLOWED = "method_not_allowed"
PAYLOAD_TOO_LARGE = "payload_too_large"
IMAGE_TOO_LARGE = "image_too_large"
UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
UNREADABLE_IMAGE = "unreadable_image"
EMPTY_IMAGE = "empty_image"
URL_REFUSED = "url_refused"  # image_url: a private address, a host off the allow-list, ...
URL_UNREACHABLE = "url_unreachable"  # image_url: could not connect, HTTP error, too slow
OVERLOADED = "overloaded"
BACKEND_UNAVAILABLE = "backend_unavailable"
BACKEND_TIMEOUT = "backend_timeout"
NOT_READY = "not_ready"
REQUEST_TIMEOUT = "request_timeout"  # the request body did not arrive in time
RELOAD_FAILED = "reload_failed"  # a model reload was refused; the previous models keep serving
RELOAD_IN_PROGRESS = "reload_in_progress"
INTERNAL_ERROR = "internal_error"
INVALID_LABEL = "invalid_label"  # a correction's text that cannot be a right answer for its task

_STATUS_CODES = {
    400: BAD_REQUEST,
    401: UNAUTHORIZED,
    404: NOT_FOUND,
    405: METHOD_NOT_ALLOWED,
    408: REQUEST_TIMEOUT,
    413: PAYLOAD_TOO_LARGE,
    415: UNSUPPORTED_MEDIA_TYPE,
    422: UNREADABLE_IMAGE,
    429: RATE_LIMITED,
    503: BACKEND_UNAVAILABLE,
    504: BACKEND_TIMEOUT,
}


class ApiError(Exception):
    """An error meant for the client: a status, a stable code and a human message."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised in a pre-processing worker process, it must come back whole (the default pickling
        # would call ApiError(message) and fail).
        return (type(self), (self.status, self.code, self.message, self.headers))


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


async def send_error(send: Send, error: ApiError, *, close: bool = False) -> None:
    """`error` as a whole ASGI response, with its headers: for middleware that answers before
    (or instead of) the app. `close` asks the client to drop the connection, for a request whose
    body was not read to its end."""
    payload = json.dumps(error_body(error.code, error.message)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in error.headers.items()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, BAD_REQUEST if exc.status_code < 500 else INTERNAL_ERROR)
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and "Allow" in headers:
        headers["Allow"] = _allowed_methods(request) or headers["Allow"]
    return error_response(exc.status_code, code, message, headers)


def _allowed_methods(request: Request) -> str:
    """Every method some route of this path takes. Starlette's 405 names only the first route's,
    and one path can have a route per method (GET and POST /api/v1/{task}/feedback)."""
    methods: set[str] = set()
    for route in _flat_routes(request.app.router.routes):
        match, _ = route.matches(request.scope)
        if match == Match.PARTIAL:
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


def _flat_routes(routes: list[Any]) -> list[Any]:
    """The routes of routers included without a prefix, as routes of their own (FastAPI keeps an
    included router whole and matches it as one)."""
    flat = []
    for route in routes:
        included = getattr(route, "original_router", None)
        context = getattr(route, "include_context", None)
        if included is not None and getattr(context, "prefix", None) == "":
            flat.extend(_flat_routes(included.routes))
        else:
            flat.append(route)
    return flat


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', 'invalid')}"
        for err in exc.errors()[:5]
    )
    return error_response(400, BAD_REQUEST, f"invalid request: {problems}")


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # Logged with the trace for the operator; the client gets no internals.
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, INTERNAL_ERROR, "internal error; the request id is in the logs")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)


# The error format and the statuses the API answers with, as OpenAPI documents them (the
# gateway's own routes and the routes it exposes for a task alike).
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}

ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Bad request body; url_refused: image_url not fetched (private address, host not "
    "allowed, more than 3 redirects, fetching off)",
    401: "API keys are on (GATEWAY_API_KEYS) and X-API-Key is missing or wrong",
    404: "Unknown task or model",
    413: "Upload, fetched image or image dimensions too large",
    415: "Not an image (judged by content)",
    422: "Unreadable or empty image; url_unreachable: image_url failed or was too slow",
    429: "Over the rate limit (GATEWAY_RATE_LIMIT_PER_MINUTE); see Retry-After",
    502: "The backend failed (answered with an unexpected status)",
    503: "Backend down or overloaded",
    504: "Backend timeout",
}


def error_responses(*statuses: int) -> dict[str, dict[str, Any]]:
    """OpenAPI response objects for these error statuses, in the platform's error format."""
    return {
        str(status): {
            "description": ERROR_DESCRIPTIONS[status],
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
        }
        for status in statuses
    }
