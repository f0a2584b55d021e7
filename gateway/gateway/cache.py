"""Result cache: Redis when configured, an in-process LRU otherwise.

Redis is an optimisation, never a dependency: when it fails, requests go on uncached, the
cache reports itself degraded, and after `retry_s` the next request tries Redis again, so caching
resumes by itself when Redis comes back.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

logger = logging.getLogger("gateway.cache")

KEY_PREFIX = "rs:result:v2"  # bump when the stored value format changes


def cache_key(task: str, model: str, version: str, preprocess_version: str, image: bytes) -> str:
    """Everything that determines the answer: the exact bytes, the model version, the pipeline."""
    digest = hashlib.sha256(image).hexdigest()
    return f"{KEY_PREFIX}:{task}:{model}:{version}:{preprocess_version}:{digest}"


class ResultCache(Protocol):
    backend: str

    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes) -> None: ...
    async def status(self) -> dict[str, Any]: ...
    async def close(self) -> None: ...


class MemoryCache:
    """Bounded LRU with a TTL; the embedded default when no Redis is configured."""

    backend = "memory"

    def __init__(self, max_items: int, ttl_s: float) -> None:
        self.max_items = max_items
        self.ttl_s = ttl_s
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        entry = self._items.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires < time.monotonic():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes) -> None:
        self._items[key] = (time.monotonic() + self.ttl_s, value)
        self._items.move_to_end(key)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)

    async def status(self) -> dict[str, Any]:
        return {"backend": self.backend, "status": "ok", "items": len(self._items)}

    async def close(self) -> None:
        self._items.clear()


class RedisCache:
    backend = "redis"

    def __init__(self, url: str, ttl_s: int, retry_s: float, timeout_s: float = 0.25) -> None:
        self.ttl_s = ttl_s
        self.retry_s = retry_s
        # No client-side retries: a failed call is answered uncached at once, not after backoff.
        self._redis = Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        self._skip_until = 0.0
        self._last_error: str | None = None

    @property
    def degraded(self) -> bool:
        return self._last_error is not None

    def _available(self) -> bool:
        return time.monotonic() >= self._skip_until

    def _failed(self, exc: Exception) -> None:
        if self._last_error is None:
            logger.warning("redis cache unavailable, serving uncached: %s", exc)
        self._last_error = f"{type(exc).__name__}: {exc}"
        self._skip_until = time.monotonic() + self.retry_s

    def _succeeded(self) -> None:
        if self._last_error is not None:
            logger.info("redis cache is back")
        self._last_error = None

    async def get(self, key: str) -> bytes | None:
        if not self._available():
            return None
        try:
            value = await self._redis.get(key)
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return None
        self._succeeded()
        return value

    async def set(self, key: str, value: bytes) -> None:
        if not self._available():
            return
        try:
            await self._redis.set(key, value, ex=self.ttl_s)
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return
        self._succeeded()

    async def status(self) -> dict[str, Any]:
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            self._failed(exc)
        else:
            self._succeeded()
            self._skip_until = 0.0
        body: dict[str, Any] = {"backend": self.backend, "status": "degraded" if self.degraded else "ok"}
        if self._last_error:
            body["error"] = self._last_error
        return body

    async def close(self) -> None:
        await self._redis.aclose()


def create_cache(redis_url: str | None, ttl_s: int, max_items: int, retry_s: float) -> ResultCache:
    if redis_url:
        return RedisCache(redis_url, ttl_s=ttl_s, retry_s=retry_s)
    return MemoryCache(max_items=max_items, ttl_s=ttl_s)
