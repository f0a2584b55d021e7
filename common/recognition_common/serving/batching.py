"""Micro-batching: many concurrent requests, one forward pass.

A model call costs about the same for 1 sample as for 32 on a CPU, so requests wait here up to
`max_wait_ms` (or until `max_batch` samples are queued), then go through the compiled model
together on a dedicated thread. The event loop never runs the model, and while one batch runs
the next one fills up, so under load batches grow by themselves and latency stays flat.

The queue is bounded: when `max_queue` samples are already waiting, `submit` fails at once with
503 + Retry-After instead of letting latency grow without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from recognition_common.edge import errors
from recognition_common.edge.errors import ApiError

logger = logging.getLogger("recognition.batching")

InferFn = Callable[[np.ndarray], np.ndarray]


class QueueFull(ApiError):
    def __init__(self, name: str, retry_after_s: int) -> None:
        super().__init__(
            503,
            errors.OVERLOADED,
            f"model {name!r} is at capacity; retry shortly",
            headers={"Retry-After": str(retry_after_s)},
        )


@dataclass
class _Job:
    samples: np.ndarray
    future: asyncio.Future[np.ndarray]


@dataclass(frozen=True)
class BatchStats:
    """What one forward pass did; handed to an observer for metrics."""

    size: int
    jobs: int
    infer_seconds: float


class MicroBatcher:
    """Collects sample arrays of shape (k, ...) and answers each with its (k, ...) outputs."""

    def __init__(
        self,
        name: str,
        infer: InferFn,
        *,
        max_batch: int = 32,
        max_wait_ms: float = 2.0,
        max_queue: int = 256,
        retry_after_s: int = 1,
        on_batch: Callable[[BatchStats], None] | None = None,
    ) -> None:
        self.name = name
        self._infer = infer
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self._retry_after_s = retry_after_s
        self._on_batch = on_batch
        self._jobs: deque[_Job] = deque()
        self._queued_samples = 0
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"infer-{name}")
        self._task: asyncio.Task[None] | None = None
        self._busy = False  # a batch is taken off the queue and not yet answered
        self._stopped = False

    @property
    def queued_samples(self) -> int:
        return self._queued_samples

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"batcher-{self.name}")

    @property
    def running(self) -> bool:
        return self._task is not None

    async def stop(self) -> None:
        """Finish what is queued and the batch in progress, then stop the worker."""
        self._stopped = True
        if self._task is not None:
            while self._jobs or self._busy:
                await asyncio.sleep(0.005)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._executor.shutdown(wait=True)

    async def submit(self, samples: np.ndarray) -> np.ndarray:
        count = len(samples)
        if count == 0:
            return samples
        if self._stopped:  # never reached while the service counts its requests (service.py)
            raise ApiError(503, errors.NOT_READY, f"model {self.name!r} was unloaded", {"Retry-After": "1"})
        if self._queued_samples + count > self.max_queue:
            raise QueueFull(self.name, self._retry_after_s)
        job = _Job(samples=samples, future=asyncio.get_running_loop().create_future())
        self._jobs.append(job)
        self._queued_samples += count
        self._wakeup.set()
        return await job.future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._jobs:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            await self._fill(loop)
            self._busy = True
            try:
                await self._run_batch(loop, self._take_batch())
            finally:
                self._busy = False

    async def _run_batch(self, loop: asyncio.AbstractEventLoop, jobs: list[_Job]) -> None:
        batch = np.concatenate([job.samples for job in jobs]) if len(jobs) > 1 else jobs[0].samples
        started = time.perf_counter()
        try:
            outputs = await loop.run_in_executor(self._executor, self._infer, batch)
        except Exception as exc:  # a failing model must not kill the worker
            logger.exception("inference failed for model %s", self.name)
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        if self._on_batch is not None:
            self._on_batch(BatchStats(len(batch), len(jobs), time.perf_counter() - started))
        offset = 0
        for job in jobs:
            count = len(job.samples)
            if not job.future.done():  # the client may have gone away
                job.future.set_result(outputs[offset : offset + count])
            offset += count

    async def _fill(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait up to max_wait for the batch to fill; return at once when it is full."""
        deadline = loop.time() + self.max_wait_s
        while self._queued_samples < self.max_batch:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                return

    def _take_batch(self) -> list[_Job]:
        """Jobs whose samples fit in max_batch; always at least one, even an oversized one."""
        jobs = [self._jobs.popleft()]
        size = len(jobs[0].samples)
        while self._jobs and size + len(self._jobs[0].samples) <= self.max_batch:
            job = self._jobs.popleft()
            jobs.append(job)
            size += len(job.samples)
        self._queued_samples -= size
        return jobs
