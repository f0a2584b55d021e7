"""A bound on how long a client may take to send its request body.

uvicorn closes idle keep-alive connections (`--timeout-keep-alive`) but has no limit on reading
a body: a client announcing a 1 MB upload and then sending a few bytes a second would hold its
request open for days. Nothing else waits on it (the server is asynchronous), but such
connections pile up, and a graceful shutdown waits for every one of them. `BodyTimeoutMiddleware`
gives the whole body `timeout_s` seconds from the moment the request's headers arrived; after
that the client gets `408 request_timeout` and the connection is closed.

The gateway and every recognizer service install it (`GATEWAY_BODY_TIMEOUT_S`,
`<TASK>_BODY_TIMEOUT_S`, default 30 s; 0 turns it off).
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recognition_common import errors
from recognition_common.errors import ApiError, error_body


class BodyTimeout(ApiError):
    def __init__(self, timeout_s: float) -> None:
        super().__init__(
            408,
            errors.REQUEST_TIMEOUT,
            f"the request body did not arrive within {timeout_s:g} s",
            {"Connection": "close"},
        )


class BodyTimeoutMiddleware:
    """Refuse with 408 (and close the connection) a request whose body takes over `timeout_s`.

    Only reading the body is timed; once it is complete the application may take as long as it
    needs. Whatever the application does with the `BodyTimeout` raised from `receive` (answer it,
    or turn it into a 400 while parsing a form), the client gets the same 408.
    """

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.timeout_s <= 0:
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        body_done = False
        timed_out = False
        answered = False  # a response start went out (the app's, or our 408)

        async def timed_receive() -> Message:
            nonlocal body_done, timed_out
            if body_done or timed_out:
                return await receive()  # e.g. waiting for http.disconnect: not timed
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                raise BodyTimeout(self.timeout_s) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal answered
            if timed_out:
                # Replace whatever the app answers with the 408; drop the rest of its response.
                if message["type"] == "http.response.start" and not answered:
                    answered = True
                    await _send_timeout(send, self.timeout_s)
                return
            if message["type"] == "http.response.start":
                answered = True
            await send(message)

        with contextlib.suppress(BodyTimeout):  # answered below (or already): not an app error
            await self.app(scope, timed_receive, guarded_send)
        if timed_out and not answered:
            await _send_timeout(send, self.timeout_s)


async def _send_timeout(send: Send, timeout_s: float) -> None:
    error = BodyTimeout(timeout_s)
    payload = json.dumps(error_body(error.code, error.message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
