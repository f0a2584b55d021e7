"""Recognizer backends: one pooled `httpx.AsyncClient` each, and each one's model catalogue.

The clients use `gateway.transport.KeepAliveTransport` for their connection pool: the same
httpx API and exceptions at a fraction of httpcore's CPU cost per request. The hot path,
`Backend.recognize`, writes its request straight onto that transport: building an httpx Request
(URL parsing and merging, headers, cookies) cost more than the exchange itself.

The catalogue (the backend's `GET /v1/models`) tells the gateway the default model and every
model's version before it forwards anything, which is what the cache key needs. It is refreshed
after `catalogue_ttl_s`, at once when a request names a model it does not know, and whenever a
backend answers with a version the catalogue did not expect (a model was swapped). One refresh
runs at a time, as a task of its own: a request that finds the catalogue stale is served from it
while the refresh runs, and a request that must wait for one (no catalogue yet, an unknown model)
waits only as long as its own deadline allows. So a hung backend costs a request one timeout,
never one per request queued before it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from gateway.catalogue import Catalogue, parse_catalogue
from gateway.transport import KeepAliveTransport, request_bytes
from recognition_common.edge import errors
from recognition_common.edge.errors import ApiError

logger = logging.getLogger("gateway.backends")


@dataclass(frozen=True)
class BackendReply:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


class Backend:
    def __init__(
        self,
        task: str,
        url: str,
        *,
        timeout_s: float,
        connect_timeout_s: float,
        max_connections: int,
        catalogue_ttl_s: float,
    ) -> None:
        self.task = task
        self.url = url
        self.catalogue_ttl_s = catalogue_ttl_s
        self.timeout_s = timeout_s
        self._transport = KeepAliveTransport(max_connections=max_connections)
        self.client = httpx.AsyncClient(
            base_url=url,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            transport=self._transport,
            # Answers are small JSON; compressing them would only cost CPU on both sides.
            headers={"accept-encoding": "identity"},
        )
        base = httpx.URL(url)
        self._origin = (base.host, base.port or 80)
        self._recognize_path = base.raw_path.decode("ascii").rstrip("/") + "/v1/recognize"
        self._recognize_headers = [
            (b"Host", base.netloc),
            (b"Accept-Encoding", b"identity"),
            (b"Content-Type", b"application/octet-stream"),
        ]
        # Only the connect timeout: it tells "nobody there" (503) from "stuck" (504). Waiting for a
        # connection and for the answer are bounded by the whole call's timeout in recognize().
        self._timeouts: dict[str, float | None] = {"connect": connect_timeout_s}
        self._catalogue: Catalogue | None = None
        self._refreshing: asyncio.Task[Catalogue] | None = None

    async def close(self) -> None:
        if self._refreshing is not None and not self._refreshing.done():
            self._refreshing.cancel()
        await self.client.aclose()

    async def catalogue(self, *, refresh: bool = False, deadline: float | None = None) -> Catalogue:
        """The backend's models; a stale copy is used while the backend cannot be reached.

        A stale catalogue is returned at once and refreshed in the background; with `refresh`
        (a model it does not list) or without any catalogue yet, the caller waits for the
        refresh until `deadline` (`time.monotonic()`; default: one backend timeout from now),
        then makes do with the copy it has, or gets a 504 when there is none.
        """
        current = self._catalogue
        if (
            current is not None
            and not refresh
            and time.monotonic() - current.fetched_at < self.catalogue_ttl_s
        ):
            return current
        running = self._refresh()
        if current is not None and not refresh:
            return current
        now = time.monotonic()
        remaining = (deadline if deadline is not None else now + self.timeout_s) - now
        try:
            async with asyncio.timeout(max(remaining, 0.0)):
                return await asyncio.shield(running)  # a timed-out waiter leaves the refresh running
        except TimeoutError:
            if current is not None:
                return current
            raise ApiError(
                504, errors.BACKEND_TIMEOUT, f"the {self.task} service did not list its models in time"
            ) from None

    def refresh_soon(self) -> None:
        """Refresh the catalogue in the background (a model was swapped under us)."""
        self._refresh()

    def _refresh(self) -> asyncio.Task[Catalogue]:
        """The refresh in flight, started when there is none."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._fetch_catalogue())
            # Its failure reaches the requests waiting for it; nobody waiting is no error.
            self._refreshing.add_done_callback(lambda task: task.cancelled() or task.exception())
        return self._refreshing

    async def _fetch_catalogue(self) -> Catalogue:
        current = self._catalogue
        try:
            reply = await self._call("GET", "/v1/models")
        except ApiError:
            if current is not None:
                return current
            raise
        if reply.status != 200:
            if current is not None:
                return current
            raise ApiError(503, errors.BACKEND_UNAVAILABLE, f"the {self.task} service is not ready")
        raw = reply.json()
        if not raw.get("ready") or not raw.get("default_model"):
            if current is not None:
                return current
            raise ApiError(
                503,
                errors.BACKEND_UNAVAILABLE,
                f"the {self.task} service is still loading its models",
                {"Retry-After": "2"},
            )
        self._catalogue = parse_catalogue(raw, time.monotonic())
        return self._catalogue

    def cached_catalogue(self) -> Catalogue | None:
        return self._catalogue

    async def recognize(
        self,
        image: bytes,
        model: str,
        request_id: str,
        options: dict[str, str] | None = None,
        deadline: float | None = None,
    ) -> BackendReply:
        """The backend's answer, within one backend timeout or by `deadline` (`time.monotonic()`)
        when that comes first."""
        target = self._recognize_path + "?" + urlencode({**(options or {}), "model": model})
        headers = [*self._recognize_headers, (b"X-Request-ID", request_id.encode("ascii"))]
        payload = request_bytes("POST", target, headers, image)
        timeout = self.timeout_s if deadline is None else min(self.timeout_s, deadline - time.monotonic())
        try:
            async with asyncio.timeout(max(timeout, 0.0)):  # waiting for a connection included
                status, raw_headers, body = await self._transport.send(
                    self._origin, payload, "POST", self._timeouts
                )
        except (TimeoutError, httpx.HTTPError) as exc:
            raise self._failed(exc) from exc
        names = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in raw_headers}
        return BackendReply(status, body, names)

    async def forward(self, method: str, path: str, **kwargs: Any) -> BackendReply:
        """Any other call on the backend (the routes its catalogue declares), errors mapped alike."""
        return await self._call(method, path, **kwargs)

    async def readiness(self) -> dict[str, Any]:
        try:
            reply = await self._call("GET", "/readyz", timeout=2.0)
        except ApiError as exc:
            return {"status": "unavailable", "url": self.url, "error": exc.message}
        body = reply.json() if reply.body else {}
        return {
            "status": "ok" if reply.status == 200 else "unavailable",
            "url": self.url,
            "device": body.get("device"),
            "models": body.get("models", {}),
        }

    async def _call(
        self, method: str, path: str, timeout: float | None = None, **kwargs: Any
    ) -> BackendReply:
        if timeout is not None:
            kwargs["timeout"] = timeout
        try:
            # The whole call within the timeout, waiting for a free connection included: when a
            # hanging backend holds every connection, the requests queued behind them do not wait
            # for a connection first and then for the answer again.
            async with asyncio.timeout(timeout or self.timeout_s):
                response = await self.client.request(method, path, **kwargs)
        except (TimeoutError, httpx.HTTPError) as exc:
            raise self._failed(exc) from exc
        return BackendReply(response.status_code, response.content, dict(response.headers))

    def _failed(self, exc: Exception) -> ApiError:
        """The gateway's error for a call that got no answer: a connect timeout means nobody is
        there (503), a read or pool timeout that the backend is stuck (504)."""
        if isinstance(exc, TimeoutError | httpx.TimeoutException) and not isinstance(
            exc, httpx.ConnectTimeout
        ):
            return ApiError(504, errors.BACKEND_TIMEOUT, f"the {self.task} service did not answer in time")
        return self._unavailable(exc)

    def _unavailable(self, exc: Exception) -> ApiError:
        logger.warning("%s backend %s unreachable: %s", self.task, self.url, type(exc).__name__)
        return ApiError(
            503,
            errors.BACKEND_UNAVAILABLE,
            f"the {self.task} service is unavailable",
            {"Retry-After": "1"},
        )
