"""`GET|POST /api/v1/{task}/{name}`: the extra routes a task's catalogue declares, forwarded.

A recognizer may offer more than recognition (a sample image, a batch endpoint, a download). It
declares each such route in its catalogue (`routes`, see gateway.catalogue); the gateway looks
the name up there (the catalogue is cached like every other use of it) and forwards the call as
it is: method, query parameters, body, content type and request id. The service's answer comes
back with the headers the route declares may pass. The service validates and answers in the
platform's error format; the gateway adds only its own errors: 404 for a task it does not serve
or a route the task does not declare, 405 for a declared route asked with another method, and
503 / 504 when the service cannot be reached.

API keys, rate limits and the request-size limit apply here as on every `/api/v1/` route: they
are middleware (gateway.security, recognition_common.edge.intake) in front of every route.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.convertors import Convertor, register_url_convertor

from gateway.api.deps import GatewayState, backend_for
from gateway.api.passthrough import download_headers, passthrough_response
from gateway.api.routes.recognize import request_id_of
from recognition_common.edge import errors
from recognition_common.edge.errors import ApiError

# The gateway's own routes under /api/v1/{task}/: never an extra route, so that a wrong method on
# them still gets their own 405 (with their Allow header) rather than this route's 404.
RESERVED = ("recognize", "feedback")


class ExtraRouteName(Convertor[str]):
    """A route name: one path segment, and not one of the gateway's own routes."""

    regex = r"(?!(?:" + "|".join(RESERVED) + r")$)[A-Za-z0-9._-]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("extra_route", ExtraRouteName())

router = APIRouter()


@router.api_route("/api/v1/{task}/{name:extra_route}", methods=["GET", "POST"], include_in_schema=False)
async def extra_route(request: Request) -> Response:
    """Documented per task and route in /openapi.json (gateway.openapi), from the catalogues."""
    state: GatewayState = request.app.state.gateway
    task: str = request.path_params["task"]
    name: str = request.path_params["name"]
    request_id = request_id_of(request)
    try:
        backend = backend_for(state, task)
        catalogue = await backend.catalogue()
        route = catalogue.routes.get(name)
        if route is None:
            raise ApiError(404, errors.NOT_FOUND, f"the {task} task has no route {name!r}")
        if request.method != route.method:
            raise ApiError(
                405,
                errors.METHOD_NOT_ALLOWED,
                f"{request.method} is not allowed here; use {route.method}",
                {"Allow": route.method},
            )
        headers = {"x-request-id": request_id}
        body: bytes | None = None
        if route.method == "POST":
            headers["content-type"] = request.headers.get("content-type", "")
            body = await request.body()
        # An empty query parameter (`?model=`) means "not given", as everywhere in the API.
        params = [(key, value) for key, value in request.query_params.multi_items() if value]
        reply = await backend.forward(route.method, route.path, params=params, content=body, headers=headers)
    except ApiError as exc:
        exc.headers = {**exc.headers, "X-Request-ID": request_id}
        raise
    return passthrough_response(
        reply, request_id, route.passed_headers, download_headers(route.download_filename, reply.status)
    )
