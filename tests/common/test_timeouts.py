"""BodyTimeoutMiddleware on plain ASGI calls: a body that trickles in gets a 408 and a closed
connection, whatever the application does with the error (the real-server test of the same
thing is tests/integration/test_slow_clients.py)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from recognition_common.edge.errors import install_error_handlers
from recognition_common.edge.intake import read_image_upload
from recognition_common.edge.timeouts import BodyTimeoutMiddleware

SCOPE = {"type": "http", "method": "POST", "path": "/", "headers": [], "query_string": b""}


def trickle(chunks: int, every_s: float, first: bytes = b"x") -> Any:
    """A client sending `chunks` pieces of body (`first`, then single bytes), one every `every_s`
    seconds."""
    sent = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent >= chunks:
            await asyncio.sleep(3600)  # then it waits for the disconnect that never comes
        await asyncio.sleep(every_s)
        sent += 1
        return {"type": "http.request", "body": first if sent == 1 else b"x", "more_body": sent < chunks}

    return receive


async def call(app: Any, receive: Any) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(dict(SCOPE), receive, send)
    return messages


def status_and_headers(messages: list[dict[str, Any]]) -> tuple[int, dict[bytes, bytes]]:
    (start,) = [m for m in messages if m["type"] == "http.response.start"]
    return start["status"], dict(start["headers"])


async def echo_length(scope: Any, receive: Any, send: Any) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


async def test_a_body_that_arrives_in_time_passes_untouched() -> None:
    app = BodyTimeoutMiddleware(echo_length, timeout_s=1.0)
    messages = await call(app, trickle(5, 0.01))
    assert status_and_headers(messages)[0] == 200 and messages[-1]["body"] == b"5"


async def test_a_trickling_body_gets_408_and_the_connection_closed() -> None:
    app = BodyTimeoutMiddleware(echo_length, timeout_s=0.3)
    started = time.monotonic()
    messages = await call(app, trickle(1000, 0.05))
    assert time.monotonic() - started < 1.0
    status, headers = status_and_headers(messages)
    assert status == 408 and headers[b"connection"] == b"close"
    assert json.loads(messages[-1]["body"])["error"]["code"] == "request_timeout"


async def test_the_clock_covers_the_whole_body_not_each_chunk() -> None:
    # Every chunk comes well within the limit, the body as a whole does not.
    app = BodyTimeoutMiddleware(echo_length, timeout_s=0.3)
    messages = await call(app, trickle(20, 0.05))
    assert status_and_headers(messages)[0] == 408


async def test_an_app_that_turns_the_error_into_a_400_still_answers_408() -> None:
    async def forgiving(scope: Any, receive: Any, send: Any) -> None:
        try:
            while (await receive()).get("more_body"):
                pass
        except Exception:  # e.g. a form parser reporting "malformed body"
            await send({"type": "http.response.start", "status": 400, "headers": []})
            await send({"type": "http.response.body", "body": b"malformed"})

    messages = await call(BodyTimeoutMiddleware(forgiving, timeout_s=0.1), trickle(1000, 0.05))
    assert status_and_headers(messages)[0] == 408
    assert [m["type"] for m in messages] == ["http.response.start", "http.response.body"]


async def test_with_the_services_error_handlers_and_multipart_parsing() -> None:
    api = FastAPI()
    install_error_handlers(api)

    @api.post("/")
    async def upload(request: Request) -> JSONResponse:
        await read_image_upload(request)
        return JSONResponse({})

    scope = {
        **SCOPE,
        "headers": [(b"content-type", b"multipart/form-data; boundary=xyz"), (b"content-length", b"999")],
    }
    messages: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    part = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n\x89PNG'
    await BodyTimeoutMiddleware(api, timeout_s=0.2)(scope, trickle(1000, 0.05, part), send)
    status, headers = status_and_headers(messages)
    assert status == 408 and headers[b"connection"] == b"close"


async def test_waiting_after_the_body_is_not_timed_and_zero_turns_it_off() -> None:
    async def slow_after_body(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await asyncio.sleep(0.3)  # the app itself may take as long as it needs
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    messages = await call(BodyTimeoutMiddleware(slow_after_body, timeout_s=0.1), trickle(1, 0))
    assert status_and_headers(messages)[0] == 200
    messages = await call(BodyTimeoutMiddleware(echo_length, timeout_s=0), trickle(5, 0.05))
    assert status_and_headers(messages)[0] == 200
