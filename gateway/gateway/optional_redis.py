"""A Redis connection the gateway can do without: the cache and the rate limiter share it.

Both use Redis as an optimisation, never a dependency. A call that fails is answered without
Redis at once (no client-side retries or backoff), Redis is then left alone for `retry_s`, the
first failure and the recovery are logged once each, and the last error is kept for /readyz.
"""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

# What a call to an optional Redis may raise: Redis's own errors and the socket's.
REDIS_FAILURES = (RedisError, OSError)


class OptionalRedis:
    def __init__(
        self, url: str, retry_s: float, logger: logging.Logger, without: str, timeout_s: float = 0.25
    ) -> None:
        self.client = Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=Retry(NoBackoff(), 0)
        )
        self.retry_s = retry_s
        self.last_error: str | None = None
        self._logger = logger
        self._without = without  # what happens meanwhile, for the log: "serving uncached"
        self._skip_until = 0.0

    @property
    def degraded(self) -> bool:
        return self.last_error is not None

    def available(self) -> bool:
        """False while Redis is being left alone after a failure."""
        return time.monotonic() >= self._skip_until

    def failed(self, exc: BaseException) -> None:
        if self.last_error is None:
            self._logger.warning("redis unavailable, %s: %s", self._without, exc)
        self.last_error = f"{type(exc).__name__}: {exc}"
        self._skip_until = time.monotonic() + self.retry_s

    def succeeded(self) -> None:
        if self.last_error is not None:
            self._logger.info("redis is back")
        self.last_error = None
        self._skip_until = 0.0

    async def close(self) -> None:
        await self.client.aclose()
