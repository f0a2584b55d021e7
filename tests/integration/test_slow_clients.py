"""Clients that trickle their upload a few bytes a second: cut off with 408 after the body
timeout (GATEWAY_BODY_TIMEOUT_S, <TASK>_BODY_TIMEOUT_S), the connection closed, and nobody else
kept waiting meanwhile.

Clients trickling their *headers* are not cut off (uvicorn has no header timeout; the TLS proxy
or ingress in front does that in a deployment), but they hold nothing up either: the test keeps
ten of them open the whole time.
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support import processes
from tests.support.images import digit_png
from tests.support.load import BackgroundLoad, fresh_digit_png, summary
from tests.support.processes import RedisServer, UvicornApp

pytestmark = pytest.mark.slow

TIMEOUT_S = 2
DIGIT = digit_png("5")
BOUNDARY = "slowboundary"


@dataclass
class Trickled:
    status: int | None = None  # None: no answer at all
    seconds: float = 0.0
    closed: bool = False  # the server closed the connection after answering
    answer: bytes = b""


def multipart_request(path: str, port: int) -> tuple[bytes, bytes]:
    """Headers announcing a whole multipart upload, and the body, of which only a part is sent."""
    body = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="d.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + DIGIT
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head, body


def json_request(path: str, port: int) -> tuple[bytes, bytes]:
    body = b'{"image_base64": "' + base64.b64encode(DIGIT) + b'"}'
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head, body


def trickle(port: int, head: bytes, body: bytes, every_s: float = 0.2, chunk: int = 2) -> Trickled:
    """Send the headers at once, then the body `chunk` bytes every `every_s` s (10 bytes/s), until
    the server answers; then read on to see whether it closes the connection."""
    outcome = Trickled()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        sock.settimeout(every_s)
        for offset in range(0, len(body) - 1, chunk):  # never the whole body
            try:
                outcome.answer = sock.recv(65536)
                break  # the server answered (or closed) before the body was complete
            except TimeoutError:
                pass
            try:
                sock.sendall(body[offset : offset + chunk])
            except OSError:
                break
        outcome.seconds = time.monotonic() - started
        sock.settimeout(5)
        try:
            while data := sock.recv(65536):
                outcome.answer += data
            outcome.closed = True
        except ConnectionResetError:
            outcome.closed = True
        except TimeoutError:
            outcome.closed = False
    if outcome.answer.startswith(b"HTTP/1.1 "):
        outcome.status = int(outcome.answer[9:12])
    return outcome


def trickle_headers(port: int, stop: threading.Event) -> None:
    """Slowloris on the request line and headers: a byte every 0.2 s until told to stop."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        for byte in b"POST /api/v1/digit/recognize HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000:
            if stop.wait(0.2):
                return
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                return


def run_tricklers(port: int, path: str, count: int) -> list[Trickled]:
    results: list[Trickled] = []
    kinds = [multipart_request, json_request]
    threads = [
        threading.Thread(target=lambda k=kinds[i % 2]: results.append(trickle(port, *k(path, port))))
        for i in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.fixture(scope="module")
def impatient_gateway(digit_backend: UvicornApp, redis_server: RedisServer) -> Iterator[UvicornApp]:
    app = processes.gateway(
        digit_backend.url, redis_server.url, env={"GATEWAY_BODY_TIMEOUT_S": str(TIMEOUT_S)}
    )
    app.start()
    yield app
    app.stop()


def fresh_digit(client: httpx.Client, n: int) -> httpx.Response:
    data = fresh_digit_png("5")
    return client.post("/api/v1/digit/recognize", files={"file": ("d.png", data)})


def test_trickling_uploads_time_out_at_the_gateway_without_starving_others(
    impatient_gateway: UvicornApp,
) -> None:
    stop_headers = threading.Event()
    header_tricklers = [
        threading.Thread(target=trickle_headers, args=(impatient_gateway.port, stop_headers))
        for _ in range(10)
    ]
    with BackgroundLoad(impatient_gateway.url, fresh_digit, clients=2, tag="normal") as normal:
        normal.wait_for(5)
        for thread in header_tricklers:
            thread.start()
        started = time.monotonic()
        results = run_tricklers(impatient_gateway.port, "/api/v1/digit/recognize", 20)
        ended = time.monotonic()
        normal.wait_for(5)
        stop_headers.set()
    for thread in header_tricklers:
        thread.join(10)

    assert len(results) == 20
    for outcome in results:
        assert outcome.status == 408, outcome
        assert TIMEOUT_S - 0.5 < outcome.seconds < TIMEOUT_S + 2, outcome
        assert outcome.closed, outcome
        assert (
            b'{"error": {"code": "request_timeout", "message": "the request body did not arrive'
            in outcome.answer
        )
    # Meanwhile, ordinary clients were answered as usual.
    assert not normal.failures(), summary(normal.outcomes)
    during = normal.between(started, ended)
    assert len(during) >= 10 and max(o.seconds for o in during) < 1, summary(during)


def test_trickling_uploads_time_out_at_a_recognizer_too() -> None:
    # The recognizers run the same middleware (DIGIT_BODY_TIMEOUT_S): no models needed to see it,
    # the body is read before anything else happens.
    service = UvicornApp(
        "digit-service",
        "digit_service.main:app",
        env={"DIGIT_BODY_TIMEOUT_S": str(TIMEOUT_S), "DIGIT_MODEL_DIR": "/nonexistent"},
        ready_path="/healthz",
    )
    service.start()
    try:
        results = run_tricklers(service.port, "/v1/recognize", 4)
        assert [outcome.status for outcome in results] == [408] * 4
        assert all(outcome.closed and outcome.seconds < TIMEOUT_S + 2 for outcome in results), results
        assert httpx.get(service.url + "/healthz").status_code == 200
    finally:
        service.stop()
