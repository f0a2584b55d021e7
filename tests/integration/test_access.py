"""Access through real processes: API keys, rate limits (counted in Redis), CORS, security headers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
import redis

from tests.support import processes
from tests.support.assertions import assert_error
from tests.support.processes import RedisServer, UvicornApp

KEYS = ("key-alpha-0123456789", "key-bravo-9876543210")
LIMIT = 3
ORIGIN = "https://app.example.com"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


@pytest.fixture(scope="module")
def guarded(digit_backend: UvicornApp, redis_server: RedisServer) -> Iterator[UvicornApp]:
    """A gateway with API keys, a rate limit of LIMIT a minute per key in Redis, and CORS for ORIGIN."""
    app = processes.gateway(
        digit_backend.url,
        redis_server.url,
        env={
            "GATEWAY_API_KEYS": ",".join(KEYS),
            "GATEWAY_RATE_LIMIT_PER_MINUTE": str(LIMIT),
            "GATEWAY_CORS_ORIGINS": ORIGIN,
        },
    )
    app.start()
    yield app
    app.stop()


def not_near_a_window_edge() -> None:
    """The limit counts per clock minute: keep a burst of requests inside one."""
    if time.time() % 60 > 56:
        time.sleep(60.5 - time.time() % 60)


def test_api_requires_a_valid_key(guarded: UvicornApp) -> None:
    models = guarded.url + "/api/v1/models"
    assert_error(httpx.get(models), 401, "unauthorized")
    assert_error(httpx.get(models, headers={"X-API-Key": "wrong"}), 401, "unauthorized")
    assert_error(httpx.get(models, headers={"X-API-Key": KEYS[0] + "x"}), 401, "unauthorized")
    assert httpx.get(models, headers={"X-API-Key": KEYS[1]}).status_code == 200
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/", "/digit.html"):
        assert httpx.get(guarded.url + path).status_code == 200, path
    # The keys are not in the log, not even on a failed attempt.
    log = guarded.log_tail(100_000)
    assert all(key not in log for key in KEYS)


def test_rate_limit_per_key_in_redis(guarded: UvicornApp, redis_server: RedisServer) -> None:
    models = guarded.url + "/api/v1/models"
    not_near_a_window_edge()
    first = {"X-API-Key": KEYS[0]}
    # test_api_requires_a_valid_key may have spent one request of KEYS[1]; KEYS[0] starts fresh.
    for _ in range(LIMIT):
        assert httpx.get(models, headers=first).status_code == 200
    over = httpx.get(models, headers=first)
    assert_error(over, 429, "rate_limited")
    assert 1 <= int(over.headers["retry-after"]) <= 60
    # Limits are per key: the other key is not affected, and health stays open.
    assert httpx.get(models, headers={"X-API-Key": KEYS[1]}).status_code == 200
    assert httpx.get(guarded.url + "/healthz").status_code == 200
    # The counters live in Redis, named by a hash of the key, never the key.
    counters = redis.Redis.from_url(redis_server.url).keys("rs:ratelimit:*")
    assert len(counters) >= 2
    assert all(KEYS[0].encode() not in name and KEYS[1].encode() not in name for name in counters)


def test_rate_limit_fails_open_when_redis_is_down(digit_backend: UvicornApp) -> None:
    server = RedisServer()
    server.start()
    app = processes.gateway(digit_backend.url, server.url, env={"GATEWAY_RATE_LIMIT_PER_MINUTE": "1"})
    try:
        app.start()
        models = app.url + "/api/v1/models"
        not_near_a_window_edge()
        assert httpx.get(models).status_code == 200
        assert_error(httpx.get(models), 429, "rate_limited")  # per client address without keys
        server.kill()
        assert [httpx.get(models).status_code for _ in range(3)] == [200, 200, 200]
    finally:
        app.stop()
        server.stop()


def preflight(url: str) -> httpx.Response:
    return httpx.options(
        url + "/api/v1/digit/recognize",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key",
        },
    )


def test_cors_is_closed_by_default(gateway: UvicornApp) -> None:
    reply = preflight(gateway.url)
    assert "access-control-allow-origin" not in reply.headers
    reply = httpx.get(gateway.url + "/api/v1/models", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in reply.headers


def test_cors_opens_for_a_configured_origin(guarded: UvicornApp) -> None:
    reply = preflight(guarded.url)  # a preflight carries no API key; it is answered anyway
    assert reply.status_code == 200
    assert reply.headers["access-control-allow-origin"] == ORIGIN
    assert "x-api-key" in reply.headers["access-control-allow-headers"].lower()
    other = httpx.options(
        guarded.url + "/api/v1/models",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in other.headers
    reply = httpx.get(guarded.url + "/api/v1/models", headers={"Origin": ORIGIN, "X-API-Key": KEYS[1]})
    assert reply.headers["access-control-allow-origin"] == ORIGIN


@pytest.mark.parametrize("path", ["/", "/digit.html", "/js/digit.js", "/api/v1/models", "/healthz", "/nope"])
def test_security_headers_on_every_response(gateway: UvicornApp, path: str) -> None:
    reply = httpx.get(gateway.url + path)
    assert reply.headers["content-security-policy"] == CSP, path
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["referrer-policy"] == "no-referrer"
    assert reply.headers["x-frame-options"] == "DENY"


def test_api_docs_are_served_by_the_gateway_under_a_policy(gateway: UvicornApp) -> None:
    """Swagger UI and ReDoc come from the gateway's own files (gateway.docs), started without an
    inline script: /docs has a policy that allows scripts from the gateway only."""
    reply = httpx.get(gateway.url + "/docs")
    assert reply.status_code == 200 and "swagger-ui" in reply.text
    assert "https://" not in reply.text and "<script>" not in reply.text
    assert "script-src 'self';" in reply.headers["content-security-policy"]
    assert reply.headers["x-content-type-options"] == "nosniff"
    for asset in ("/docs-assets/swagger-ui-bundle.js", "/docs-assets/redoc.standalone.js", "/docs-init.js"):
        assert httpx.get(gateway.url + asset).status_code == 200, asset
