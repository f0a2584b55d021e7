"""The execution strategies, each on a tiny batcher (numpy, no model): the one a spec and its
settings pick, and what each does with an upload."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pydantic import BaseModel, Field

from recognition_common.edge.errors import ApiError
from recognition_common.serving.batching import MicroBatcher
from recognition_common.serving.model_card import ModelCard
from recognition_common.serving.recognizer import Prepared
from recognition_common.serving.registry import ServedModel
from recognition_common.serving.service import RecognitionService, choose_strategy
from recognition_common.serving.settings import RecognizerSettings
from recognition_common.serving.spec import Execution, TaskSpec
from recognition_common.serving.strategies import InProcessStrategy, PooledStrategy, StagedStrategy
from tests.support.images import encode

CARD = ModelCard(name="m", version="1", task="sum", classes=["x"], input_shape=[4], created="2026-01-01")


class SumRecognizer:
    """The first row's first 4 pixels, doubled by the "model"."""

    task = "sum"
    preprocess_version = "1"

    def preprocess(self, image: Image.Image, card: ModelCard) -> Prepared:
        return Prepared(np.asarray(image.convert("L"), dtype=np.float32)[0, :4][np.newaxis])

    def decode(self, outputs: np.ndarray, prepared: Prepared, card: ModelCard) -> dict[str, Any]:
        return {"text": "ok", "confidence": 1.0, "values": outputs[0].tolist()}


class Scale(BaseModel):
    scale: float = Field(1.0, gt=0)


class StagedSum:
    task = "sum"
    preprocess_version = "1"

    async def run(self, image: Image.Image, card: ModelCard, stages: Any, options: Scale) -> dict[str, Any]:
        pixels = await stages.cpu(lambda: np.asarray(image.convert("L"), dtype=np.float32)[0, :4])
        outputs = await stages.infer(pixels[np.newaxis] * options.scale)
        return {"text": "ok", "confidence": 1.0, "values": outputs[0].tolist(), "card": stages.card().name}


def spec(recognizer: Any, execution: Execution, **fields: Any) -> TaskSpec[RecognizerSettings]:
    return TaskSpec(
        name="sum",
        settings=RecognizerSettings,
        recognizer=lambda _: recognizer,
        execution=execution,
        **fields,
    )


def png(values: tuple[int, ...] = (1, 2, 3, 4)) -> bytes:
    image = Image.new("L", (8, 2), 0)
    for x, value in enumerate(values):
        image.putpixel((x, 0), value)
    return encode(image, "PNG")


@pytest.fixture
async def served() -> AsyncIterator[ServedModel]:
    batcher = MicroBatcher("m", lambda batch: batch * 2, max_wait_ms=0)
    batcher.start()
    model = ServedModel(CARD, batcher, "abc")
    yield model
    await model.stop()


def test_the_spec_and_settings_pick_the_strategy() -> None:
    plain = spec(SumRecognizer(), Execution.PLAIN)
    assert isinstance(choose_strategy(plain, SumRecognizer(), RecognizerSettings()), PooledStrategy)
    in_process = RecognizerSettings(preprocess_processes=0)
    assert isinstance(choose_strategy(plain, SumRecognizer(), in_process), InProcessStrategy)
    staged = spec(StagedSum(), Execution.STAGED, options=Scale)
    assert isinstance(choose_strategy(staged, StagedSum(), RecognizerSettings()), StagedStrategy)


def test_a_spec_that_does_not_fit_its_recognizer_is_refused() -> None:
    with pytest.raises(TypeError, match="staged"):
        RecognitionService(spec(SumRecognizer(), Execution.STAGED))
    with pytest.raises(TypeError, match="plain"):
        RecognitionService(spec(StagedSum(), Execution.PLAIN))
    with pytest.raises(ValueError, match="only a staged task"):
        spec(SumRecognizer(), Execution.PLAIN, options=Scale)


async def test_in_process_runs_preprocess_batcher_decode(served: ServedModel) -> None:
    strategy = InProcessStrategy(SumRecognizer(), RecognizerSettings(preprocess_processes=0))
    await strategy.start()
    try:
        result = await strategy.recognize(served, png(), {"ignored": "1"})
        assert result["values"] == [2.0, 4.0, 6.0, 8.0]
        with pytest.raises(ApiError) as caught:
            await strategy.recognize(served, b"not an image", {})
        assert caught.value.status == 415
    finally:
        strategy.close()


async def test_pooled_falls_back_to_in_process_when_workers_cannot_start(
    served: ServedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    strategy = PooledStrategy(SumRecognizer(), RecognizerSettings(preprocess_processes=1))
    assert strategy.pool is not None

    async def refuse() -> None:
        raise OSError("no /dev/shm")

    monkeypatch.setattr(strategy.pool, "start", refuse)
    await strategy.start()
    try:
        assert strategy.pool is None
        assert (await strategy.recognize(served, png(), {}))["values"] == [2.0, 4.0, 6.0, 8.0]
    finally:
        strategy.close()


async def test_staged_gets_typed_options_and_refuses_bad_ones(served: ServedModel) -> None:
    strategy = StagedStrategy(StagedSum(), RecognizerSettings(), Scale)
    try:
        result = await strategy.recognize(served, png(), {"scale": "0.5", "other": "x"})
        assert result == {"text": "ok", "confidence": 1.0, "values": [1.0, 2.0, 3.0, 4.0], "card": "m"}
        with pytest.raises(ApiError) as caught:
            await strategy.recognize(served, png(), {"scale": "-1"})
        assert (caught.value.status, caught.value.code) == (400, "bad_request")
        assert "scale" in caught.value.message
    finally:
        strategy.close()


async def test_the_service_counts_requests_and_releases_the_model(served: ServedModel) -> None:
    service = RecognitionService(
        spec(SumRecognizer(), Execution.PLAIN), RecognizerSettings(preprocess_processes=0)
    )
    service.registry.models = {"m": served}
    service.registry.default, service.registry.ready = "m", True
    try:
        answered, _ = await service.recognize(png(), None)
        assert answered is served and served.in_flight == 0
        assert answered.reference() == {"name": "m", "version": "1", "fingerprint": "abc"}
        with pytest.raises(ApiError):
            await service.recognize(b"x", "m")
        assert served.in_flight == 0
        samples = {
            sample.labels["status"]: sample.value
            for metric in service.metrics.registry.collect()
            if metric.name == "recognizer_requests"
            for sample in metric.samples
            if sample.name.endswith("_total")
        }
        assert samples == {"ok": 1.0, "415": 1.0}
    finally:
        service.strategy.close()
        await asyncio.sleep(0)


class PairedSum(SumRecognizer):
    """Asks its `half` component for a pass over the pixels it wants halved, when it has one."""

    def preprocess(self, image: Image.Image, card: ModelCard) -> Prepared:
        prepared = super().preprocess(image, card)
        if "half" in card.components:
            prepared.component_inputs["half"] = prepared.inputs[:, :2]
        return prepared

    def decode(self, outputs: np.ndarray, prepared: Prepared, card: ModelCard) -> dict[str, Any]:
        halves = prepared.component_outputs.get("half")
        return {
            **super().decode(outputs, prepared, card),
            "halves": None if halves is None else halves[0].tolist(),
        }


async def test_a_plain_recognizer_gets_the_component_passes_it_asks_for(served: ServedModel) -> None:
    half = MicroBatcher("m/half", lambda batch: batch / 2, max_wait_ms=0)
    half.start()
    served.card = CARD.model_copy(update={"components": ["half"]})
    served.components = {"half": ServedModel(CARD, half, "def")}
    strategy = InProcessStrategy(PairedSum(), RecognizerSettings(preprocess_processes=0))
    try:
        result = await strategy.recognize(served, png(), {})
        assert result["values"] == [2.0, 4.0, 6.0, 8.0]  # the model's own pass, as before
        assert result["halves"] == [0.5, 1.0]  # the component's, on what preprocess chose
        served.card = CARD  # without the component listed, no pass is asked for
        assert (await strategy.recognize(served, png(), {}))["halves"] is None
    finally:
        strategy.close()
        await served.components["half"].stop()
