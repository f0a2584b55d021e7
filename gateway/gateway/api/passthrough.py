"""A service's reply to a forwarded call, handed back as the gateway's answer.

The extra routes a catalogue declares (gateway.api.routes.extra) forward one call to the task's
service and pass its answer back as it is: the service already answers in the platform's error
format, so the only choices here are which of its headers may pass, and the download name the
catalogue gave for a successful answer.
"""

from __future__ import annotations

from collections.abc import Collection

from fastapi.responses import Response

from gateway.backends import BackendReply


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


def download_headers(filename: str | None, status: int) -> dict[str, str] | None:
    """`Content-Disposition: attachment` for a successful answer the catalogue names a file for:
    a download, not a page, so browsers save it under that name."""
    if filename is None or status != 200:
        return None
    return {"content-disposition": f'attachment; filename="{filename}"'}
