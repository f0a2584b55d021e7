"""The gateway's keep-alive transport against a real asyncio HTTP server that misbehaves on cue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from gateway.transport import KeepAliveTransport

Handler = Callable[[bytes, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]


class Server:
    """Counts connections and concurrent requests; `handler` answers and says whether to go on."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.active = 0
        self.peak = 0
        self.port = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                self.active += 1
                self.peak = max(self.peak, self.active)
                try:
                    go_on = await self.handler(head + body, reader, writer)
                finally:
                    self.active -= 1
                if not go_on:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def answer(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


@asynccontextmanager
async def running(
    handler: Handler, **transport_options: float
) -> AsyncIterator[tuple[Server, httpx.AsyncClient]]:
    server = Server(handler)
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    client = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{server.port}",
        transport=KeepAliveTransport(**transport_options),
        timeout=httpx.Timeout(2.0, connect=1.0),
    )
    try:
        yield server, client
    finally:
        await client.aclose()
        listener.close()


async def echo(request: bytes, _: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    writer.write(answer(request.split(b"\r\n\r\n", 1)[1] or b"empty"))
    await writer.drain()
    return True


async def test_connections_are_reused_and_bodies_arrive_whole() -> None:
    async with running(echo) as (server, client):
        for index in range(5):
            reply = await client.post("/v1/recognize?model=x", content=b"image-%d" % index)
            assert reply.status_code == 200
            assert reply.content == b"image-%d" % index
    assert server.connections == 1


async def test_a_connection_the_server_closed_while_idle_is_replaced_transparently() -> None:
    async def answer_once(request: bytes, _: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(answer(b"ok"))  # says nothing about closing, then closes: uvicorn's idle timeout
        await writer.drain()
        return False

    async with running(answer_once) as (server, client):
        assert (await client.get("/a")).content == b"ok"
        await asyncio.sleep(0.05)
        assert (await client.get("/b")).content == b"ok"
    assert server.connections == 2


async def test_a_server_that_closes_before_answering_a_reused_connection_is_retried_once() -> None:
    calls = 0

    async def drop_second(request: bytes, _: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        nonlocal calls
        calls += 1
        if calls == 2:
            return False  # read the request, close without a byte of answer
        writer.write(answer(b"fine"))
        await writer.drain()
        return True

    async with running(drop_second) as (server, client):
        assert (await client.get("/1")).content == b"fine"
        assert (await client.get("/2")).content == b"fine"  # retried on a new connection
    assert calls == 3
    assert server.connections == 2


async def test_chunked_answers_and_connection_close_are_honoured() -> None:
    async def chunked(request: bytes, _: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b"5\r\nrecog\r\n5\r\nnized\r\n0\r\n\r\n"
        )
        await writer.drain()
        return True  # the client must not reuse it anyway: it said close

    async with running(chunked) as (server, client):
        assert (await client.get("/x")).content == b"recognized"
        assert (await client.get("/y")).content == b"recognized"
    assert server.connections == 2


async def test_a_silent_server_is_a_read_timeout_and_its_connection_is_not_reused() -> None:
    async def hang_first(request: bytes, _: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        if b"/slow" in request:
            await asyncio.sleep(5)
        writer.write(answer(b"ok"))
        await writer.drain()
        return True

    async with running(hang_first) as (server, client):
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/slow", timeout=0.3)
        assert (await client.get("/fast")).content == b"ok"
    assert server.connections == 2


async def test_nobody_listening_is_a_connect_error() -> None:
    async with running(echo) as (server, _):
        port = server.port
    client = httpx.AsyncClient(transport=KeepAliveTransport(), timeout=1.0)
    try:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/")
    finally:
        await client.aclose()


async def test_no_more_than_max_connections_are_used_at_once() -> None:
    async def slow(request: bytes, _: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.05)
        writer.write(answer(b"ok"))
        await writer.drain()
        return True

    async with running(slow, max_connections=2) as (server, client):
        replies = await asyncio.gather(*(client.get(f"/{i}") for i in range(8)))
    assert all(reply.status_code == 200 for reply in replies)
    assert server.peak == 2
    assert server.connections == 2


async def test_a_connection_broken_mid_answer_is_an_error_not_a_retry() -> None:
    calls = 0

    async def half(request: bytes, _: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        nonlocal calls
        calls += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        await writer.drain()
        return False

    async with running(half) as (_, client):
        with pytest.raises(httpx.ReadError):
            await client.get("/x")
    assert calls == 1


async def test_backend_recognize_writes_its_request_onto_the_transport() -> None:
    from gateway.backends import Backend

    seen: list[bytes] = []

    async def record(request: bytes, _: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        seen.append(request)
        writer.write(answer(b'{"ok": true}', b"Retry-After: 3\r\nX-Thing: a\r\n"))
        await writer.drain()
        return True

    async with running(record) as (server, _):
        backend = Backend(
            "digit",
            f"http://127.0.0.1:{server.port}/prefix/",
            timeout_s=2.0,
            connect_timeout_s=1.0,
            max_connections=2,
            catalogue_ttl_s=2.0,
        )
        try:
            for _ in range(3):
                reply = await backend.recognize(b"\x89PNG-bytes", "cnn", "req-1", {"mode": "a b&c"})
                assert reply.status == 200 and reply.json() == {"ok": True}
                assert reply.headers["retry-after"] == "3" and reply.headers["x-thing"] == "a"
        finally:
            await backend.close()
    assert server.connections == 1  # kept alive
    head, body = seen[0].split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /prefix/v1/recognize?mode=a+b%26c&model=cnn HTTP/1.1"
    headers = {name.lower(): value for name, _, value in (line.partition(b": ") for line in lines[1:])}
    assert headers[b"host"] == b"127.0.0.1:%d" % server.port
    assert headers[b"content-type"] == b"application/octet-stream"
    assert headers[b"x-request-id"] == b"req-1" and headers[b"content-length"] == b"%d" % len(body)
    assert body == b"\x89PNG-bytes"


async def _recognize_status(url: str) -> int:
    """The status of the ApiError a Backend at `url` with short timeouts raises for a recognize."""
    from gateway.backends import Backend
    from recognition_common.edge.errors import ApiError

    backend = Backend(
        "digit", url, timeout_s=0.3, connect_timeout_s=0.3, max_connections=1, catalogue_ttl_s=2.0
    )
    try:
        with pytest.raises(ApiError) as caught:
            await backend.recognize(b"x", "cnn", "r")
        return caught.value.status
    finally:
        await backend.close()


async def test_backend_recognize_maps_a_silent_backend_to_504_and_nobody_to_503() -> None:
    async def silent(request: bytes, reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(5)
        return False

    async with running(silent) as (server, _):
        url = f"http://127.0.0.1:{server.port}"
        assert await _recognize_status(url) == 504
    assert await _recognize_status(url) == 503  # the listener is gone: nobody there
