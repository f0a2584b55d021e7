"""Access to the gateway: API keys, rate limits, CORS and security headers.

Pure ASGI middlewares (no BaseHTTPMiddleware: it costs tens of microseconds a request). Only
`/api/v1/` is guarded; health, metrics, the API docs and the pages stay open. Everything is off by
default except the security headers; `install_security` wires what the settings switch on.

Keys never reach the logs or Redis: a key is named by a short SHA-256 prefix.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.docs import DOCS_PATHS
from gateway.optional_redis import REDIS_FAILURES, OptionalRedis
from recognition_common.edge import errors
from recognition_common.edge.errors import ApiError, send_error

logger = logging.getLogger("gateway.security")

API_PREFIX = "/api/v1/"
RATE_LIMIT_PREFIX = "rs:ratelimit:"
WINDOW_S = 60

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
# The API docs (gateway.docs) load their scripts from the gateway too, but both bundles set styles
# from script and ReDoc runs a worker from a blob: URL.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


def key_id(key: str) -> str:
    """What logs and Redis keys name an API key by: a SHA-256 prefix, never the key."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        common = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
        ]
        self.headers = [(b"content-security-policy", CONTENT_SECURITY_POLICY.encode()), *common]
        self.docs_headers = [(b"content-security-policy", DOCS_CONTENT_SECURITY_POLICY.encode()), *common]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.docs_headers if scope["path"] in DOCS_PATHS else self.headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                if isinstance(headers, list):
                    headers.extend(extra)
                else:  # a tuple or other sequence: rebuild it
                    message["headers"] = [*headers, *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class MemoryRateLimiter:
    """Fixed one-minute windows counted in this process (no Redis configured)."""

    backend = "memory"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._window = -1
        self._counts: dict[str, int] = {}

    async def hit(self, ident: str, now: float) -> int:
        """Count one request; the count in this window so far, 0 when nothing was counted."""
        window = int(now // WINDOW_S)
        if window != self._window:  # a new window: every count starts over, memory stays bounded
            self._window = window
            self._counts = {}
        count = self._counts.get(ident, 0) + 1
        self._counts[ident] = count
        return count

    async def close(self) -> None:
        self._counts = {}


class RedisRateLimiter:
    """Fixed one-minute windows in Redis, shared by every gateway replica.

    INCR and EXPIRE go in one pipeline (one round trip). When Redis fails the request is served and
    not counted (fail open): the limit is a guard, not a dependency. After a failure Redis is left
    alone for `retry_s`, as the cache does.
    """

    backend = "redis"

    def __init__(self, url: str, limit: int, retry_s: float = 1.0, timeout_s: float = 0.25) -> None:
        self.limit = limit
        self._redis = OptionalRedis(url, retry_s, logger, "rate limits not counted", timeout_s)

    async def hit(self, ident: str, now: float) -> int:
        if not self._redis.available():
            return 0
        window = int(now // WINDOW_S)
        key = f"{RATE_LIMIT_PREFIX}{ident}:{window}"
        try:
            async with self._redis.client.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, WINDOW_S + 5)
                count, _ = await pipe.execute()
        except REDIS_FAILURES as exc:
            self._redis.failed(exc)
            return 0
        self._redis.succeeded()
        return int(count)

    async def close(self) -> None:
        await self._redis.close()


RateLimiter = MemoryRateLimiter | RedisRateLimiter


class AccessMiddleware:
    """API keys (401 unauthorized) and rate limits (429 rate_limited) on `/api/v1/` only."""

    def __init__(self, app: ASGIApp, api_keys: list[str], limiter: RateLimiter | None) -> None:
        self.app = app
        self.keys = [(key.encode(), key_id(key)) for key in api_keys]
        self.limiter = limiter

    def _key_of(self, scope: Scope) -> str | None:
        """The id of the caller's key when it is one of ours; every key compared in constant time."""
        given = b""
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                given = value
                break
        found = None
        for key, ident in self.keys:
            if hmac.compare_digest(given, key):
                found = ident
        return found if given else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        if self.keys:
            ident = self._key_of(scope)
            if ident is None:
                error = ApiError(
                    401,
                    errors.UNAUTHORIZED,
                    "a valid API key is required in the X-API-Key header",
                    {"WWW-Authenticate": 'ApiKey header="X-API-Key"'},
                )
                await send_error(send, error)
                return
            ident = "key:" + ident
        else:
            client = scope.get("client")
            ident = "ip:" + (client[0] if client else "unknown")
        if self.limiter is not None:
            now = time.time()
            if await self.limiter.hit(ident, now) > self.limiter.limit:
                retry_after = max(1, math.ceil(WINDOW_S - now % WINDOW_S))
                error = ApiError(
                    429,
                    errors.RATE_LIMITED,
                    f"more than {self.limiter.limit} requests a minute; retry in {retry_after} s",
                    {"Retry-After": str(retry_after)},
                )
                await send_error(send, error)
                return
        await self.app(scope, receive, send)


def create_rate_limiter(limit: int, redis_url: str | None, retry_s: float) -> RateLimiter | None:
    if limit <= 0:
        return None
    if redis_url:
        return RedisRateLimiter(redis_url, limit, retry_s=retry_s)
    return MemoryRateLimiter(limit)


def install_security(app: Any, settings: Any) -> RateLimiter | None:
    """Wire the middlewares the settings switch on; call after every other `add_middleware`.

    Outermost first: security headers, CORS (answers preflights, which carry no API key), access.
    Returns the rate limiter so that the app can close it at shutdown.
    """
    keys = settings.api_key_list
    limiter = create_rate_limiter(settings.rate_limit_per_minute, settings.redis_url, settings.cache_retry_s)
    if keys or limiter is not None:
        app.add_middleware(AccessMiddleware, api_keys=keys, limiter=limiter)
    if keys:
        logger.info("API keys required on %s: %s", API_PREFIX, ", ".join(key_id(key) for key in keys))
    if limiter is not None:
        logger.info(
            "rate limit: %d requests a minute per %s (%s)",
            limiter.limit,
            "API key" if keys else "client address",
            limiter.backend,
        )
    origins = settings.cors_origin_list
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key", "X-Request-ID"],
            expose_headers=["X-Cache", "X-Request-ID", "Retry-After"],
            max_age=600,
        )
    app.add_middleware(SecurityHeadersMiddleware)
    return limiter
