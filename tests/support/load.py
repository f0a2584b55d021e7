"""Steady background traffic for fault tests: clients that keep sending while a test breaks things.

`BackgroundLoad` runs a few client threads, each with its own keep-alive `httpx.Client`, until the
`with` block ends, and records every outcome (status, X-Cache, latency, or the exception) so a
test can say "zero failures while Redis was down" or "the captcha task never noticed".

`with_nonce` makes a new, distinct upload out of an existing PNG without re-rendering it: the
pixels stay the same (so does the answer), the bytes (and so the cache key) differ.
"""

from __future__ import annotations

import itertools
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from tests.support.images import digit_png, png_chunk
from tests.support.processes import wait_until


def with_nonce(image: bytes, nonce: int | str) -> bytes:
    """A PNG with a tEXt chunk carrying `nonce` before IEND, or a JPEG with a comment segment
    after SOI: other bytes, the same image."""
    text = str(nonce).encode()
    if image.startswith(b"\xff\xd8"):
        return image[:2] + b"\xff\xfe" + struct.pack(">H", len(text) + 2) + text + image[2:]
    assert image[-12:-8] == b"\x00\x00\x00\x00" and image[-8:-4] == b"IEND", "PNG or JPEG only"
    data = b"nonce\x00" + text
    return image[:-12] + png_chunk(b"tEXt", data) + image[-12:]


def fresh_digit_png(digit: str) -> bytes:
    """`digit_png(digit)` with a random nonce: an image no test has sent before (a cache miss)."""
    return with_nonce(digit_png(digit), uuid.uuid4().hex)


@dataclass(frozen=True)
class Outcome:
    tag: str
    started: float  # time.monotonic()
    seconds: float
    status: int  # 0: no HTTP answer at all (see error)
    cache: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200


Request = Callable[[httpx.Client, int], httpx.Response]


class BackgroundLoad:
    """`clients` threads calling `request(client, n)` back to back (n counts up across threads)."""

    def __init__(
        self, base_url: str, request: Request, clients: int = 4, tag: str = "", pause_s: float = 0.0
    ) -> None:
        self.base_url = base_url
        self.request = request
        self.clients = clients
        self.tag = tag
        self.pause_s = pause_s
        self.outcomes: list[Outcome] = []
        self._stop = threading.Event()
        self._counter = itertools.count()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> BackgroundLoad:
        for index in range(self.clients):
            thread = threading.Thread(target=self._client, name=f"load-{self.tag}-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def _client(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    reply = self.request(client, next(self._counter))
                except httpx.HTTPError as exc:
                    outcome = Outcome(self.tag, started, time.monotonic() - started, 0, error=repr(exc))
                else:
                    seconds, cache = time.monotonic() - started, reply.headers.get("x-cache")
                    outcome = Outcome(self.tag, started, seconds, reply.status_code, cache)
                self.outcomes.append(outcome)  # list.append is atomic under the GIL
                if self.pause_s:
                    self._stop.wait(self.pause_s)

    def between(self, start: float, end: float) -> list[Outcome]:
        return [o for o in self.outcomes if start <= o.started and o.started + o.seconds <= end]

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def wait_for(self, count: int, timeout_s: float = 30) -> None:
        """Until at least `count` more requests have been answered."""
        target = len(self.outcomes) + count
        wait_until(
            lambda: len(self.outcomes) >= target,
            timeout_s,
            lambda: f"load stalled at {len(self.outcomes)} requests",
            interval_s=0.02,
        )


def summary(outcomes: list[Outcome]) -> str:
    """For assertion messages: counts by status, and the first few failures."""
    counts: dict[int, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    bad = [o for o in outcomes if not o.ok][:5]
    return f"{len(outcomes)} requests, by status {counts}; first failures: {bad}"
