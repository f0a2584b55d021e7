"""Result cache: Redis when configured, an in-process LRU otherwise.

Redis is an optimisation, never a dependency: when it fails, requests go on uncached, the
cache reports itself degraded, and after `retry_s` the next request tries Redis again, so caching
resumes by itself when Redis comes back.

With Redis, a small in-process LRU sits in front of it (a near cache): a hot image is answered
without a network round trip, which is most of what a cache hit costs. It cannot serve a stale
answer: keys carry the model's version and the fingerprint of its files, and the pre-processing
version, and a key's value never changes.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from typing import Any, Protocol, cast
from urllib.parse import urlencode

from gateway.optional_redis import REDIS_FAILURES, OptionalRedis

logger = logging.getLogger("gateway.cache")

KEY_PREFIX = "rs:result:v2"  # bump when the stored value format changes


def cache_key(
    task: str,
    model: str,
    version: str,
    preprocess_version: str,
    image: bytes,
    options: dict[str, str] | None = None,
    fingerprint: str | None = None,
) -> str:
    """Everything that determines the answer: the exact bytes, the model version and the
    fingerprint of its files (a model file replaced under the same version is another model),
    the pipeline, and the request options the recognizer reads (only those: the gateway filters
    them first)."""
    digest = hashlib.sha256(image).hexdigest()
    if fingerprint:
        version = f"{version}+{fingerprint}"
    key = f"{KEY_PREFIX}:{task}:{model}:{version}:{preprocess_version}:{digest}"
    if options:
        key += ":" + hashlib.sha256(urlencode(sorted(options.items())).encode()).hexdigest()[:32]
    return key


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

    def __len__(self) -> int:
        return len(self._items)

    async def status(self) -> dict[str, Any]:
        return {"backend": self.backend, "status": "ok", "items": len(self._items)}

    async def close(self) -> None:
        self._items.clear()


class RedisCache:
    backend = "redis"

    def __init__(self, url: str, ttl_s: int, retry_s: float, timeout_s: float = 0.25) -> None:
        self.ttl_s = ttl_s
        self._redis = OptionalRedis(url, retry_s, logger, "serving uncached", timeout_s)

    @property
    def degraded(self) -> bool:
        return self._redis.degraded

    async def get(self, key: str) -> bytes | None:
        if not self._redis.available():
            return None
        try:
            value = await self._redis.client.get(key)
        except REDIS_FAILURES as exc:
            self._redis.failed(exc)
            return None
        self._redis.succeeded()
        return cast(bytes | None, value)  # the client is made without decode_responses

    async def set(self, key: str, value: bytes) -> None:
        if not self._redis.available():
            return
        try:
            await self._redis.client.set(key, value, ex=self.ttl_s)
        except REDIS_FAILURES as exc:
            self._redis.failed(exc)
            return
        self._redis.succeeded()

    async def status(self) -> dict[str, Any]:
        try:
            await self._redis.client.ping()
        except REDIS_FAILURES as exc:
            self._redis.failed(exc)
        else:
            self._redis.succeeded()
        body: dict[str, Any] = {"backend": self.backend, "status": "degraded" if self.degraded else "ok"}
        if self._redis.last_error:
            body["error"] = self._redis.last_error
        return body

    async def close(self) -> None:
        await self._redis.close()


class NearCache:
    """An in-process LRU in front of Redis: reads try it first, writes go to both."""

    backend = "redis"

    def __init__(self, near: MemoryCache, shared: RedisCache) -> None:
        self.near = near
        self.shared = shared

    async def get(self, key: str) -> bytes | None:
        value = await self.near.get(key)
        if value is None:
            value = await self.shared.get(key)
            if value is not None:
                await self.near.set(key, value)
        return value

    async def set(self, key: str, value: bytes) -> None:
        await self.near.set(key, value)
        await self.shared.set(key, value)

    async def status(self) -> dict[str, Any]:
        return {**await self.shared.status(), "near_items": len(self.near)}

    async def close(self) -> None:
        await self.near.close()
        await self.shared.close()


def create_cache(
    redis_url: str | None,
    ttl_s: int,
    max_items: int,
    retry_s: float,
    near_items: int = 0,
    near_ttl_s: float = 60,
) -> ResultCache:
    if not redis_url:
        return MemoryCache(max_items=max_items, ttl_s=ttl_s)
    shared = RedisCache(redis_url, ttl_s=ttl_s, retry_s=retry_s)
    if near_items <= 0:
        return shared
    return NearCache(MemoryCache(max_items=near_items, ttl_s=min(near_ttl_s, ttl_s)), shared)
