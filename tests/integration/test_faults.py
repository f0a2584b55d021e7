"""Failures of real processes while clients keep sending: Redis killed and restarted under load,
a recognizer killed and restarted (other tasks unaffected), a recognizer that hangs.

Slow clients: test_slow_clients.py; SIGTERM: test_shutdown.py; model reload: test_reload.py.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support import processes
from tests.support.images import captcha_png, digit_png
from tests.support.load import BackgroundLoad, fresh_digit_png, summary, with_nonce
from tests.support.processes import RedisServer, UvicornApp, wait_until

pytestmark = pytest.mark.slow

CAPTCHAS = [captcha_png(text, seed=text) for text in ("a1b2", "x9y8", "7k3m", "q0w4")]


def post(url: str, data: bytes, timeout: float = 30) -> httpx.Response:
    return httpx.post(url + "/api/v1/digit/recognize", files={"file": ("d.png", data)}, timeout=timeout)


def captcha_misses(client: httpx.Client, n: int) -> httpx.Response:
    """Fresh captcha images (cache misses): every request reaches the captcha service."""
    data = with_nonce(CAPTCHAS[n % len(CAPTCHAS)], f"{uuid.uuid4().hex}")
    return client.post("/api/v1/captcha/recognize", files={"file": ("c.png", data)})


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


def test_redis_killed_and_restarted_under_load(digit_backend: UvicornApp, own_redis: RedisServer) -> None:
    import redis

    # No near cache: here an X-Cache HIT can only have come from Redis.
    env = {"GATEWAY_CACHE_RETRY_S": "0.5", "GATEWAY_NEAR_CACHE_ITEMS": "0"}
    app = processes.gateway(digit_backend.url, own_redis.url, env=env)
    app.start()
    wrong: list[str] = []

    def half_hits(client: httpx.Client, n: int) -> httpx.Response:
        digit = str(n % 10)
        # Odd requests repeat 4 images (hits while Redis is there), even ones are new (misses).
        data = digit_png(str(n % 4)) if n % 2 else with_nonce(digit_png(digit), f"redis-{n}")
        reply = client.post("/api/v1/digit/recognize", files={"file": ("d.png", data)})
        if reply.status_code == 200 and not n % 2 and reply.json()["result"]["text"] != digit:
            wrong.append(reply.text[:200])
        return reply

    restarted: RedisServer | None = None
    try:
        with BackgroundLoad(app.url, half_hits, clients=4, tag="digit") as load:
            load.wait_for(40)
            assert any(o.cache == "HIT" for o in load.outcomes)

            own_redis.kill()
            killed = time.monotonic()
            load.wait_for(40)  # served all along, uncached
            ready = httpx.get(app.url + "/readyz").json()
            assert ready["cache"]["status"] == "degraded" and ready["status"] == "degraded"

            restarted = RedisServer(port=own_redis.port)  # same address: the gateway is not told
            restarted.start()
            back = time.monotonic()
            wait_until(
                lambda: any(o.cache == "HIT" and o.started > back + 0.6 for o in load.outcomes),
                10,
                "caching did not resume after Redis came back",
                interval_s=0.05,
            )
            load.wait_for(20)
        assert not load.failures(), summary(load.outcomes)
        assert not wrong, wrong
        outage = load.between(killed, back)
        assert len(outage) >= 30, summary(outage)
        assert all(o.cache == "MISS" for o in outage)
        assert max(o.seconds for o in outage) < 2, "requests were held up by the missing Redis"
        # Caching resumed by itself, in the new (empty) Redis.
        assert redis.Redis(port=restarted.port).dbsize() > 0
        assert httpx.get(app.url + "/readyz").json()["cache"]["status"] == "ok"
    finally:
        app.stop()
        if restarted is not None:
            restarted.stop()


def test_backend_killed_and_restarted(redis_server: RedisServer, captcha_backend: UvicornApp) -> None:
    service = processes.digit_service()
    service.start()
    app = processes.gateway(service.url, redis_server.url, captcha_url=captcha_backend.url)
    app.start()
    restarted: UvicornApp | None = None
    try:
        assert post(app.url, fresh_digit_png("7")).status_code == 200
        with BackgroundLoad(app.url, captcha_misses, clients=2, tag="captcha") as captcha:
            captcha.wait_for(5)
            service.kill()
            outage_started = time.monotonic()
            for _ in range(5):  # every one refused at once, not after a timeout
                started = time.monotonic()
                reply = post(app.url, fresh_digit_png("7"))
                assert time.monotonic() - started < 1
                assert reply.status_code == 503 and reply.json()["error"]["code"] == "backend_unavailable"
                assert "retry-after" in reply.headers
            ready = httpx.get(app.url + "/readyz")
            assert ready.status_code == 200 and ready.json()["status"] == "degraded"  # captcha still up
            assert ready.json()["backends"]["digit"]["status"] == "unavailable"
            assert ready.json()["backends"]["captcha"]["status"] == "ok"

            restarted = UvicornApp("digit-service", "digit_service.main:app", port=service.port)
            restarted.start()  # the gateway is not restarted, nor told
            reply = post(app.url, fresh_digit_png("4"))
            assert reply.status_code == 200 and reply.json()["result"]["text"] == "4"
            outage_ended = time.monotonic()
            captcha.wait_for(5)
        assert httpx.get(app.url + "/readyz").json()["status"] == "ok"
        assert app.running
        # The captcha task never noticed: every request answered, none slowed to a crawl.
        assert not captcha.failures(), summary(captcha.outcomes)
        during = captcha.between(outage_started, outage_ended)
        assert len(during) >= 10, summary(during)
        assert max(o.seconds for o in during) < 5
    finally:
        app.stop()
        service.stop()
        if restarted is not None:
            restarted.stop()


def test_hanging_backend_gives_504_within_the_timeout_and_holds_nothing_up(
    redis_server: RedisServer, captcha_backend: UvicornApp
) -> None:
    # A recognizer that lists its model and then takes an hour to answer.
    stuck = UvicornApp(
        "hanging-backend", "tests.support.slow_backend:app", env={"SLOW_BACKEND_DELAY_S": "3600"}
    )
    stuck.start()
    app = processes.gateway(
        stuck.url, redis_server.url, env={"GATEWAY_BACKEND_TIMEOUT_S": "1"}, captcha_url=captcha_backend.url
    )
    app.start()

    client = httpx.Client(base_url=app.url, timeout=30, limits=httpx.Limits(max_connections=32))
    images = [fresh_digit_png("7") for _ in range(24)]

    def hang(data: bytes) -> tuple[int, str, float]:
        started = time.monotonic()
        reply = client.post("/api/v1/digit/recognize", files={"file": ("d.png", data)})
        return reply.status_code, reply.json()["error"]["code"], time.monotonic() - started

    try:
        with BackgroundLoad(app.url, captcha_misses, clients=2, tag="captcha") as captcha:
            captcha.wait_for(5)
            started = time.monotonic()
            # More hanging requests than the gateway keeps connections to one backend (16).
            with ThreadPoolExecutor(24) as pool:
                replies = list(pool.map(hang, images))
            ended = time.monotonic()
            health = httpx.get(app.url + "/healthz", timeout=2)
            captcha.wait_for(5)
        assert all(status == 504 and code == "backend_timeout" for status, code, _ in replies), replies
        # Within the 1 s timeout, also for those that waited for one of the 16 connections.
        assert all(0.9 < elapsed < 2.5 for _, _, elapsed in replies), replies
        assert health.status_code == 200
        # While every digit request hung, captcha requests kept being answered, as fast as ever.
        assert not captcha.failures(), summary(captcha.outcomes)
        during = captcha.between(started, ended)
        assert during and max(o.seconds for o in during) < 1, summary(during)
    finally:
        client.close()
        app.stop()
        stuck.stop()


def test_full_queue_answers_503_with_retry_after(redis_server: RedisServer) -> None:
    import asyncio

    service = processes.digit_service(env={"DIGIT_MAX_QUEUE": "2", "DIGIT_MAX_BATCH": "1"})
    service.start()
    try:
        images = [fresh_digit_png(str(i % 10)) for i in range(60)]

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


def test_a_frozen_recognizer_costs_each_request_one_timeout(redis_server: RedisServer) -> None:
    """A recognizer frozen (SIGSTOP) mid-service: every request, however many arrive together and
    whether the gateway's model list is stale or was never fetched, is answered within the
    backend timeout plus a second; then the thawed recognizer answers again."""
    timeout = 2.0
    settings = {"GATEWAY_BACKEND_TIMEOUT_S": str(timeout), "GATEWAY_CATALOGUE_TTL_S": "0.2"}
    backend = processes.digit_service()
    backend.start()
    warm = processes.gateway(backend.url, redis_server.url, env=settings)
    warm.start()
    cold: UvicornApp | None = None

    def burst(url: str) -> list[tuple[int, float]]:
        def one(data: bytes) -> tuple[int, float]:
            started = time.monotonic()
            reply = post(url, data)
            return reply.status_code, time.monotonic() - started

        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(one, [fresh_digit_png("4") for _ in range(8)]))

    try:
        assert post(warm.url, fresh_digit_png("4")).status_code == 200  # the model list is known
        assert backend.process is not None
        backend.process.send_signal(signal.SIGSTOP)
        time.sleep(0.5)  # the model list is now stale: a refresh would hang too
        stale = burst(warm.url)
        # A gateway that starts while the recognizer is frozen has no model list at all.
        cold = processes.gateway(backend.url, redis_server.url, env=settings)
        cold.start()
        never_listed = burst(cold.url)
        for replies in (stale, never_listed):
            assert all(status in (503, 504) for status, _ in replies), replies
            assert all(elapsed < timeout + 1 for _, elapsed in replies), replies
        backend.process.send_signal(signal.SIGCONT)
        wait_until(lambda: post(warm.url, fresh_digit_png("4")).status_code == 200, timeout_s=20)
        wait_until(lambda: post(cold.url, fresh_digit_png("4")).status_code == 200, timeout_s=20)
    finally:
        if backend.process is not None:
            backend.process.send_signal(signal.SIGCONT)
        for app in (cold, warm):
            if app is not None:
                app.stop()
        backend.stop()
