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
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recognition_common.edge import errors
from recognition_common.edge.errors import ApiError, send_error


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
        body = _TimedBody(receive, send, self.timeout_s)
        try:
            with contextlib.suppress(BodyTimeout):  # answered below (or already): not an app error
                await self.app(scope, body.receive, body.send)
        finally:
            body.clock.cancel()
        if body.expired and not body.answered:
            await send_error(send, BodyTimeout(self.timeout_s), close=True)


class _TimedBody:
    """One request's `receive` and `send`, with the body on the clock.

    One timer per request (a `call_later`, cheaper than a timeout context around every
    `receive`): when it fires while the app waits for body data, that wait is cancelled and
    becomes a `BodyTimeout`; when it fires at any other moment, the next `receive` raises it.
    """

    __slots__ = ("_receive", "_send", "answered", "clock", "done", "expired", "timeout_s", "waiter")

    def __init__(self, receive: Receive, send: Send, timeout_s: float) -> None:
        self._receive = receive
        self._send = send
        self.timeout_s = timeout_s
        self.done = False  # the whole body has arrived
        self.expired = False
        self.answered = False  # a response start went out (the app's, or our 408)
        self.waiter: asyncio.Task[Any] | None = None  # the task waiting for body data now
        self.clock = asyncio.get_running_loop().call_later(timeout_s, self._expire)

    def _expire(self) -> None:
        if self.done:
            return
        self.expired = True
        if self.waiter is not None:
            self.waiter.cancel()

    async def receive(self) -> Message:
        if self.done:
            return await self._receive()  # e.g. waiting for http.disconnect: not timed
        if self.expired:
            raise BodyTimeout(self.timeout_s)
        self.waiter = asyncio.current_task()
        try:
            message = await self._receive()
        except asyncio.CancelledError:
            if self.expired and self.waiter is not None and self.waiter.uncancel() == 0:
                raise BodyTimeout(self.timeout_s) from None
            raise
        finally:
            self.waiter = None
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.done = True
            self.clock.cancel()
        return message

    async def send(self, message: Message) -> None:
        if self.expired:
            # Replace whatever the app answers with the 408; drop the rest of its response.
            if message["type"] == "http.response.start" and not self.answered:
                self.answered = True
                await send_error(self._send, BodyTimeout(self.timeout_s), close=True)
            return
        if message["type"] == "http.response.start":
            self.answered = True
        await self._send(message)
