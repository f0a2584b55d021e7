"""What the task-specific passthrough routes share (captcha sample and batch, meter demo).

They forward one call to a task's service and hand its answer back as it is: the service already
answers in the platform's error format, so only the task lookup (404 when the gateway does not
serve the task) and the choice of headers that may pass are the gateway's.
"""

from __future__ import annotations

from collections.abc import Collection

from fastapi import Request
from fastapi.responses import Response

from gateway.api.deps import GatewayState
from gateway.backends import Backend, BackendReply
from recognition_common.edge import errors
from recognition_common.edge.errors import ApiError


def task_backend(request: Request, task: str) -> Backend:
    """The backend serving `task`; 404 unknown_task when this gateway has none."""
    state: GatewayState = request.app.state.gateway
    backend = state.backends.get(task)
    if backend is None:
        raise ApiError(404, errors.UNKNOWN_TASK, f"the {task} task is not configured on this gateway")
    return backend


def passthrough_response(
    reply: BackendReply,
    request_id: str,
    passed_headers: Collection[str],
    extra_headers: dict[str, str] | None = None,
) -> Response:
    """The service's reply as the gateway's answer: its status and body, the headers named in
    `passed_headers` (lower case), then `extra_headers` where the service sent none of the name."""
    passed = {name.lower(): value for name, value in reply.headers.items() if name.lower() in passed_headers}
    for name, value in (extra_headers or {}).items():
        passed.setdefault(name.lower(), value)
    media_type = passed.pop("content-type", "application/json")
    return Response(
        reply.body,
        status_code=reply.status,
        media_type=media_type,
        headers={**passed, "X-Request-ID": request_id},
    )
