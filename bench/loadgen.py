"""A lean HTTP/1.1 load generator: keep-alive connections replaying pre-built requests.

On a 2-core machine the client competes with the servers for CPU, so it must be cheap: requests
are encoded once up front and responses are parsed just enough (status, X-Cache, length).
Every connection runs a closed loop (send, wait for the answer, send the next one), so
`concurrency` is the number of requests in flight.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class LoadResult:
    name: str
    concurrency: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    cache_hits: int = 0

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    @property
    def errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status != 200)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "concurrency": self.concurrency,
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "rps": round(self.rps, 1),
            "p50_ms": round(self.percentile(50), 2),
            "p99_ms": round(self.percentile(99), 2),
            "errors": self.errors,
            "cache_hits": self.cache_hits,
            "statuses": self.statuses,
        }


def build_multipart(path: str, host: str, image: bytes, field_name: str = "file") -> bytes:
    boundary = "benchboundary7d3f"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"; filename="d.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool, bool]:
    """Status, whether X-Cache said HIT, and whether the server closes the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    closes = head.startswith(b"HTTP/1.0")  # Werkzeug's development server, like the seeds use
    length: int | None = None
    hit = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        lowered = name.strip().lower()
        if lowered == b"content-length":
            length = int(value)
        elif lowered == b"x-cache":
            hit = value.strip() == b"HIT"
        elif lowered == b"connection":
            closes = value.strip().lower() == b"close"
    if length is None:
        await reader.read()  # body runs until the server closes
        closes = True
    elif length:
        await reader.readexactly(length)
    return status, hit, closes


async def run_load(
    name: str,
    host: str,
    port: int,
    requests: list[bytes],
    *,
    concurrency: int,
    duration_s: float,
    warmup_s: float = 1.0,
    max_requests: int | None = None,
) -> LoadResult:
    """Replay `requests` in order, cycling; `max_requests=len(requests)` sends each exactly once."""
    result = LoadResult(name=name, concurrency=concurrency, seconds=0.0)
    next_index = 0
    budget = max_requests if max_requests is not None else float("inf")
    loop = asyncio.get_running_loop()
    start = loop.time()
    measure_from = start + warmup_s
    stop_at = measure_from + duration_s

    async def client() -> None:
        nonlocal next_index
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while loop.time() < stop_at and next_index < budget:
                request = requests[next_index % len(requests)]
                next_index += 1
                sent = time.perf_counter()
                writer.write(request)
                status, hit, closes = await _read_response(reader)
                if closes:
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                if loop.time() >= measure_from:
                    result.latencies_ms.append((time.perf_counter() - sent) * 1000)
                    result.statuses[status] = result.statuses.get(status, 0) + 1
                    result.cache_hits += hit
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    result.seconds = max(1e-9, min(loop.time(), stop_at) - measure_from)
    return result
