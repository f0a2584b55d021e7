"""Failures of real processes: Redis and a recognizer killed mid-test, a recognizer that hangs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from digit_service.synth import draw_number
from tests.support import processes
from tests.support.images import encode
from tests.support.processes import RedisServer, UvicornApp

pytestmark = pytest.mark.slow


def fresh_png(text: str = "7") -> bytes:
    image = draw_number(text)
    image.putpixel((uuid.uuid4().int % 200, 0), (252, 252, 252))
    return encode(image)


def post(url: str, data: bytes, timeout: float = 30) -> httpx.Response:
    return httpx.post(url + "/api/v1/digit/recognize", files={"file": ("d.png", data)}, timeout=timeout)


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


def test_redis_killed_and_restarted_mid_run(digit_backend: UvicornApp, own_redis: RedisServer) -> None:
    import redis

    app = processes.gateway(digit_backend.url, own_redis.url, env={"GATEWAY_CACHE_RETRY_S": "0.5"})
    app.start()
    try:
        data = fresh_png("3")
        assert post(app.url, data).headers["x-cache"] == "MISS"
        assert post(app.url, data).headers["x-cache"] == "HIT"

        own_redis.kill()
        started = time.monotonic()
        for digit in "01245":  # new images: every one answered, uncached, and quickly
            reply = post(app.url, fresh_png(digit))
            assert reply.status_code == 200 and reply.headers["x-cache"] == "MISS"
            assert reply.json()["result"]["text"] == digit
        assert time.monotonic() - started < 10
        ready = httpx.get(app.url + "/readyz").json()
        assert ready["cache"]["status"] == "degraded" and ready["status"] == "degraded"

        restarted = RedisServer(port=own_redis.port)  # same address: the gateway is not told
        restarted.start()
        try:
            time.sleep(0.6)  # past the retry interval
            fresh = fresh_png("6")
            assert post(app.url, fresh).headers["x-cache"] == "MISS"
            # Caching resumed by itself: the answer is in the new Redis, and served from cache.
            assert redis.Redis(port=restarted.port).dbsize() == 1
            assert post(app.url, fresh).headers["x-cache"] == "HIT"
            assert httpx.get(app.url + "/readyz").json()["cache"]["status"] == "ok"
        finally:
            restarted.stop()
    finally:
        app.stop()


def test_backend_killed_and_restarted(redis_server: RedisServer, tmp_path) -> None:
    service = processes.digit_service()
    service.start()
    app = processes.gateway(service.url, redis_server.url)
    app.start()
    try:
        assert post(app.url, fresh_png()).status_code == 200
        service.kill()
        started = time.monotonic()
        reply = post(app.url, fresh_png())
        assert reply.status_code == 503 and reply.json()["error"]["code"] == "backend_unavailable"
        assert time.monotonic() - started < 3  # refused quickly, not after a timeout
        assert "retry-after" in reply.headers
        ready = httpx.get(app.url + "/readyz")
        assert ready.status_code == 503 and ready.json()["backends"]["digit"]["status"] == "unavailable"

        restarted = processes.UvicornApp("digit-service", "digit_service.main:app", port=service.port)
        restarted.start()
        try:
            reply = post(app.url, fresh_png("4"))  # same gateway process, no restart
            assert reply.status_code == 200 and reply.json()["result"]["text"] == "4"
            assert httpx.get(app.url + "/readyz").status_code == 200
        finally:
            restarted.stop()
    finally:
        app.stop()
        service.stop()


def test_hanging_backend_gives_504_within_the_timeout(redis_server: RedisServer) -> None:
    stuck = UvicornApp("hanging-backend", "tests.support.hanging_backend:app")
    stuck.start()
    app = processes.gateway(stuck.url, redis_server.url, env={"GATEWAY_BACKEND_TIMEOUT_S": "1"})
    app.start()
    try:
        started = time.monotonic()
        reply = post(app.url, fresh_png())
        elapsed = time.monotonic() - started
        assert reply.status_code == 504 and reply.json()["error"]["code"] == "backend_timeout"
        assert 0.9 < elapsed < 3
        assert httpx.get(app.url + "/healthz").status_code == 200  # the gateway is not stuck
    finally:
        app.stop()
        stuck.stop()


def test_full_queue_answers_503_with_retry_after(redis_server: RedisServer) -> None:
    import asyncio

    service = processes.digit_service(env={"DIGIT_MAX_QUEUE": "2", "DIGIT_MAX_BATCH": "1"})
    service.start()
    try:
        images = [fresh_png(str(i % 10)) for i in range(60)]

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
                return await asyncio.gather(
                    *(client.post("/v1/recognize", files={"file": ("d.png", data)}) for data in images)
                )

        replies = asyncio.run(burst())
        statuses = [reply.status_code for reply in replies]
        assert set(statuses) <= {200, 503}
        refused = [reply for reply in replies if reply.status_code == 503]
        assert refused, "a queue of 2 must overflow under 60 concurrent requests"
        assert all(reply.headers.get("retry-after") == "1" for reply in refused)
        assert all(reply.json()["error"]["code"] == "overloaded" for reply in refused)
        assert statuses.count(200) >= 2
    finally:
        service.stop()
