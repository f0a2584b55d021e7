import asyncio
import threading

import numpy as np
import pytest

from recognition_common.serving.batching import BatchStats, MicroBatcher, QueueFull


class RecordingModel:
    """Doubles its input and remembers every batch size; optionally blocks until released."""

    def __init__(self, block: threading.Event | None = None) -> None:
        self.batches: list[int] = []
        self.threads: set[str] = set()
        self.block = block

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if self.block is not None:
            self.block.wait(5)
        self.batches.append(len(batch))
        self.threads.add(threading.current_thread().name)
        return batch * 2


async def test_concurrent_requests_share_forward_passes() -> None:
    model = RecordingModel()
    stats: list[BatchStats] = []
    batcher = MicroBatcher("m", model, max_batch=16, max_wait_ms=20, on_batch=stats.append)
    batcher.start()
    inputs = [np.full((1, 3), i, dtype=np.float32) for i in range(40)]
    outputs = await asyncio.gather(*(batcher.submit(x) for x in inputs))
    await batcher.stop()
    for x, y in zip(inputs, outputs, strict=True):
        np.testing.assert_array_equal(y, x * 2)  # every caller gets its own answer
    assert sum(model.batches) == 40
    assert max(model.batches) == 16 and len(model.batches) <= 4
    assert sum(s.jobs for s in stats) == 40
    assert all(name.startswith("infer-m") for name in model.threads)  # never on the event loop


async def test_multi_sample_jobs_are_split_back_in_order() -> None:
    model = RecordingModel()
    batcher = MicroBatcher("m", model, max_batch=8, max_wait_ms=10)
    batcher.start()
    a = np.arange(6, dtype=np.float32).reshape(3, 2)
    b = np.arange(10, 14, dtype=np.float32).reshape(2, 2)
    big = np.ones((12, 2), dtype=np.float32)  # larger than max_batch: still served, alone
    out_a, out_b, out_big = await asyncio.gather(batcher.submit(a), batcher.submit(b), batcher.submit(big))
    await batcher.stop()
    np.testing.assert_array_equal(out_a, a * 2)
    np.testing.assert_array_equal(out_b, b * 2)
    np.testing.assert_array_equal(out_big, big * 2)
    assert 12 in model.batches


async def test_full_queue_refuses_at_once_with_retry_after() -> None:
    release = threading.Event()
    model = RecordingModel(block=release)
    batcher = MicroBatcher("m", model, max_batch=2, max_wait_ms=0, max_queue=4)
    batcher.start()
    first = asyncio.ensure_future(batcher.submit(np.zeros((2, 1), np.float32)))
    await asyncio.sleep(0.05)  # the worker took the first batch and is stuck in the model
    queued = [asyncio.ensure_future(batcher.submit(np.zeros((2, 1), np.float32))) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(QueueFull) as caught:
        await batcher.submit(np.zeros((1, 1), np.float32))
    assert caught.value.status == 503
    assert caught.value.headers["Retry-After"] == "1"
    release.set()
    await asyncio.gather(first, *queued)
    await batcher.stop()


async def test_a_failing_model_fails_its_callers_not_the_worker() -> None:
    calls = 0

    def flaky(batch: np.ndarray) -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return batch

    batcher = MicroBatcher("m", flaky, max_batch=4, max_wait_ms=0)
    batcher.start()
    with pytest.raises(RuntimeError):
        await batcher.submit(np.zeros((1, 1), np.float32))
    result = await batcher.submit(np.ones((1, 1), np.float32))
    await batcher.stop()
    np.testing.assert_array_equal(result, np.ones((1, 1)))
