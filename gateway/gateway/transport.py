"""A lean HTTP/1.1 keep-alive transport for the gateway's `httpx.AsyncClient`s.

The gateway talks to a handful of recognizers it knows, over plain HTTP/1.1, with small bodies
in both directions. httpx's default transport (httpcore) is general and correct, but under load
it checked every pooled connection on every request, each check a `poll()` system call through
anyio's stream attributes: about a third of the gateway's CPU per cache miss. This transport
does only what the gateway needs:

* a LIFO pool of idle connections per backend, at most `max_connections` in use at once;
  an idle connection the server has closed is noticed for free (its reader is at EOF), and one
  idle longer than `keepalive_expiry_s` is dropped before the server's own keep-alive timeout
  (uvicorn: 5 s) can race with a new request;
* the request written in one go, the answer read by Content-Length or chunked encoding;
* one retry on a fresh connection, and only when a *reused* connection fails before a single
  byte of the answer arrived: the server closed it between requests. Recognition is a pure
  function of the image, so repeating it can't do harm;
* httpx's own exceptions (ConnectError, ConnectTimeout, ReadTimeout, PoolTimeout, ...), so
  callers handle errors exactly as with the default transport.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import cast

import httpx

MAX_HEADER_BYTES = 64 * 1024


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    def usable(self, now: float, expiry_s: float) -> bool:
        return not self.reader.at_eof() and not self.writer.is_closing() and now - self.idle_since < expiry_s

    def close(self) -> None:
        self.writer.close()


class _StaleConnection(Exception):
    """A reused connection failed before any byte of the answer: safe to retry afresh."""


class KeepAliveTransport(httpx.AsyncBaseTransport):
    def __init__(self, *, max_connections: int = 16, keepalive_expiry_s: float = 4.0) -> None:
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: dict[tuple[str, int], deque[_Connection]] = {}
        self._keepalive_expiry_s = keepalive_expiry_s

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        payload = _serialise(
            request, b"".join([part async for part in cast(httpx.AsyncByteStream, request.stream)])
        )
        origin = (request.url.host, request.url.port or 80)
        timeouts = request.extensions.get("timeout", {})
        status, headers, body = await self.send(origin, payload, request.method, timeouts, request)
        return httpx.Response(status, headers=headers, content=body, extensions={"http_version": b"HTTP/1.1"})

    async def send(
        self,
        origin: tuple[str, int],
        payload: bytes,
        method: str,
        timeouts: dict[str, float | None],
        request: httpx.Request | None = None,
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """One exchange: `payload` (a whole serialised request) to `origin`; the status, the
        headers and the whole body back, or httpx's exception. For the gateway's hot path, which
        writes its request itself rather than building an httpx.Request (`Backend.recognize`);
        `request` is only what the exceptions carry."""
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise httpx.PoolTimeout("no free connection to the backend in time", request=request) from exc
        try:
            connection = self._take_idle(origin)
            if connection is not None:
                try:
                    return await self._exchange(connection, origin, payload, method, timeouts, True, request)
                except _StaleConnection:
                    pass  # closed by the server while idle: once more on a new connection
            connection = await self._connect(origin, request, timeouts.get("connect"))
            try:
                return await self._exchange(connection, origin, payload, method, timeouts, False, request)
            except _StaleConnection as exc:
                raise httpx.RemoteProtocolError(
                    "the backend closed the connection without answering", request=request
                ) from exc.__cause__
        finally:
            self._slots.release()

    async def aclose(self) -> None:
        for pool in self._idle.values():
            while pool:
                pool.pop().close()

    def _take_idle(self, origin: tuple[str, int]) -> _Connection | None:
        pool = self._idle.get(origin)
        now = time.monotonic()
        while pool:
            connection = pool.pop()  # most recently used first: the warmest socket
            if connection.usable(now, self._keepalive_expiry_s):
                return connection
            connection.close()
        return None

    async def _connect(
        self, origin: tuple[str, int], request: httpx.Request | None, timeout: float | None
    ) -> _Connection:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(*origin, limit=MAX_HEADER_BYTES)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(
                f"connecting to {origin[0]}:{origin[1]} timed out", request=request
            ) from exc
        except OSError as exc:
            raise httpx.ConnectError(
                f"cannot connect to {origin[0]}:{origin[1]}: {exc}", request=request
            ) from exc
        return _Connection(reader, writer)

    async def _exchange(
        self,
        connection: _Connection,
        origin: tuple[str, int],
        payload: bytes,
        method: str,
        timeouts: dict[str, float | None],
        reused: bool,
        request: httpx.Request | None,
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Send the request and read the whole answer; the connection goes back to the pool only
        when the answer was read completely and the server keeps it open."""
        answered = False
        keep = False
        try:
            async with asyncio.timeout(timeouts.get("read")):
                connection.writer.write(payload)
                try:
                    head = await connection.reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError as exc:
                    if not exc.partial:
                        raise _StaleConnection from exc
                    raise
                answered = True
                status, headers, keep = _parse_head(head)
                body = await _read_body(connection.reader, headers, method)
                keep = keep and _has_framing(headers)
        except _StaleConnection:
            connection.close()
            raise
        except TimeoutError as exc:
            connection.close()
            raise httpx.ReadTimeout("the backend did not answer in time", request=request) from exc
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            connection.close()
            if reused and not answered:
                raise _StaleConnection from exc
            raise httpx.ReadError(f"connection to the backend broke: {exc!r}", request=request) from exc
        except (asyncio.LimitOverrunError, ValueError) as exc:
            connection.close()
            raise httpx.RemoteProtocolError(
                f"malformed answer from the backend: {exc}", request=request
            ) from exc
        except BaseException:  # cancelled mid-exchange: the connection's state is unknown
            connection.close()
            raise
        if keep:
            connection.idle_since = time.monotonic()
            self._idle.setdefault(origin, deque()).append(connection)
        else:
            connection.close()
        return status, headers, body


def _serialise(request: httpx.Request, body: bytes) -> bytes:
    target = request.url.raw_path.decode("ascii")
    lines = [f"{request.method} {target} HTTP/1.1".encode()]
    has_length = False
    for name, value in request.headers.raw:
        lowered = name.lower()
        if lowered == b"transfer-encoding":
            continue  # the body is sent whole, with its length
        has_length = has_length or lowered == b"content-length"
        lines.append(name + b": " + value)
    if body and not has_length:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def request_bytes(method: str, target: str, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    """A whole HTTP/1.1 request for `send`: `target` is the path and query, `headers` must
    include Host; Content-Length is added."""
    lines = [f"{method} {target} HTTP/1.1".encode(), *(name + b": " + value for name, value in headers)]
    lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _parse_head(head: bytes) -> tuple[int, list[tuple[bytes, bytes]], bool]:
    """Status, headers and whether the connection stays open, from a response head."""
    status_line, *header_lines = head[:-4].split(b"\r\n")
    version, _, rest = status_line.partition(b" ")
    if not version.startswith(b"HTTP/1."):
        raise ValueError(f"not an HTTP/1.x status line: {status_line[:60]!r}")
    status = int(rest[:3])
    keep = version == b"HTTP/1.1"
    headers = []
    for line in header_lines:
        name, sep, value = line.partition(b":")
        if not sep:
            raise ValueError(f"bad header line: {line[:60]!r}")
        value = value.strip()
        if name.lower() == b"connection":
            keep = value.lower() == b"keep-alive" if version == b"HTTP/1.0" else value.lower() != b"close"
        headers.append((name, value))
    return status, headers, keep


def _header(headers: list[tuple[bytes, bytes]], wanted: bytes) -> bytes | None:
    for name, value in headers:
        if name.lower() == wanted:
            return value
    return None


def _has_framing(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the body's end was marked; without it the server closes to end the body."""
    return (
        _header(headers, b"content-length") is not None or _header(headers, b"transfer-encoding") is not None
    )


async def _read_body(reader: asyncio.StreamReader, headers: list[tuple[bytes, bytes]], method: str) -> bytes:
    if method == "HEAD":
        return b""
    encoding = _header(headers, b"transfer-encoding")
    if encoding is not None and b"chunked" in encoding.lower():
        chunks: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass  # trailers, ignored
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = _header(headers, b"content-length")
    if length is not None:
        return await reader.readexactly(int(length))
    return await reader.read()  # no framing: the body runs until the server closes
