"""The pre-processing worker processes: the same answers and errors as in-process, and a worker
that dies costs the requests in flight a retryable 503, not the service."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digit_service.recognizer import DigitRecognizer
from recognition_common.edge import errors
from recognition_common.edge.errors import ApiError
from recognition_common.edge.imaging import ImageLimits
from recognition_common.serving.model_card import read_card
from recognition_common.serving.workers import PreprocessPool, prepare_upload
from tests.support.images import encode

REPO = Path(__file__).resolve().parents[2]
CARD = read_card(REPO / "digit-service" / "models" / "lenet5")
LIMITS = ImageLimits(max_bytes=10_000_000, max_pixels=40_000_000)


def _drawing() -> bytes:
    image = Image.new("L", (140, 140), 255)
    pixels = np.asarray(image).copy()
    pixels[30:110, 66:76] = 0  # a one
    return encode(Image.fromarray(pixels), "PNG")


def test_api_error_survives_pickling() -> None:
    error = ApiError(422, errors.EMPTY_IMAGE, "nothing drawn", {"X-Why": "blank"})
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.status, copy.code, copy.message) == (422, "empty_image", "nothing drawn")
    assert copy.headers == {"X-Why": "blank"}


def test_workers_prepare_what_the_service_would_and_return_its_errors() -> None:
    recognizer = DigitRecognizer(0.5)
    data = _drawing()
    blank = encode(Image.new("L", (50, 50), 255), "PNG")

    async def scenario() -> None:
        pool = PreprocessPool(1, recognizer, LIMITS)
        await pool.start()
        try:
            prepared = await pool.prepare(data, CARD)
            local = prepare_upload(recognizer, data, LIMITS, CARD)
            assert np.array_equal(prepared.inputs, local.inputs)
            assert [s.box for s in prepared.context] == [s.box for s in local.context]
            with pytest.raises(ApiError) as caught:
                await pool.prepare(blank, CARD)
            assert (caught.value.status, caught.value.code) == (422, errors.EMPTY_IMAGE)
            with pytest.raises(ApiError) as caught:
                await pool.prepare(b"not an image", CARD)
            assert caught.value.status == 415
        finally:
            pool.close()

    asyncio.run(scenario())


def test_a_dead_worker_costs_a_503_and_is_replaced() -> None:
    recognizer = DigitRecognizer(0.5)
    data = _drawing()

    async def scenario() -> None:
        pool = PreprocessPool(1, recognizer, LIMITS)
        await pool.start()
        try:
            executor = pool._executor
            assert executor is not None
            (pid,) = list(executor._processes)  # the one worker
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(ApiError) as caught:
                for _ in range(20):  # the executor notices the death on its next call
                    await pool.prepare(data, CARD)
                    await asyncio.sleep(0.05)
            assert (caught.value.status, caught.value.code) == (503, errors.BACKEND_UNAVAILABLE)
            assert caught.value.headers.get("Retry-After") == "1"
            prepared = await pool.prepare(data, CARD)  # a fresh worker
            assert prepared.inputs.shape == (1, 28, 28, 1)
            assert pid not in pool._executor._processes  # type: ignore[union-attr]
        finally:
            pool.close()

    asyncio.run(scenario())


def test_a_closed_pool_refuses_with_503() -> None:
    pool = PreprocessPool(1, DigitRecognizer(0.5), LIMITS)
    with pytest.raises(ApiError) as caught:
        asyncio.run(pool.prepare(_drawing(), CARD))
    assert caught.value.status == 503


def test_a_service_whose_workers_cannot_start_works_without_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from digit_service.config import DigitSettings
    from digit_service.spec import SPEC
    from recognition_common.serving.app import create_app

    async def refuse(self: PreprocessPool) -> None:
        raise OSError("no /dev/shm")

    monkeypatch.setattr(PreprocessPool, "start", refuse)
    settings = DigitSettings(model_dir=REPO / "digit-service" / "models", default_model="lenet5")
    app = create_app(SPEC, settings)
    with TestClient(app) as client:
        for _ in range(300):
            if client.get("/readyz").status_code == 200:
                break
            time.sleep(0.1)
        reply = client.post("/v1/recognize", files={"file": ("one.png", _drawing(), "image/png")})
        assert reply.status_code == 200, reply.text
        assert reply.json()["result"]["text"] == "1"
