"""The shared recognizer app with a staged recognizer: components, options, the batchers."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from recognition_common.service import create_recognizer_app
from recognition_common.serving.model_card import ModelCard, write_card
from recognition_common.serving.recognizer import Stages
from recognition_common.serving.settings import RecognizerSettings


def _save_model(model_dir: Path, name: str, scale: float, components: list[str] | None = None) -> None:
    """A one-layer model that multiplies its 4 inputs by `scale`, with its card."""
    import keras

    model_dir.mkdir(parents=True)
    inputs = keras.Input((4,))
    layer = keras.layers.Dense(4, use_bias=False, kernel_initializer=keras.initializers.Identity(scale))
    keras.Model(inputs, layer(inputs)).save(model_dir / "model.keras")
    card = ModelCard(
        name=name,
        version="1.0.0",
        task="staged",
        classes=["a", "b", "c", "d"],
        input_shape=[4],
        created="2026-11-21",
        **({"components": components} if components else {}),
    )
    write_card(model_dir, card)


class TwoStageRecognizer:
    """Runs its component, then its main model on the component's output."""

    task = "staged"
    preprocess_version = "staged-1"
    options = ("factor",)

    async def run(
        self, image: Image.Image, card: ModelCard, stages: Stages, options: dict[str, str]
    ) -> dict[str, Any]:
        pixels = await stages.cpu(lambda: np.asarray(image.convert("L"), dtype=np.float32)[0, :4])
        first = await stages.infer(pixels[np.newaxis], "finder")
        second = await stages.infer(first * float(options.get("factor", "1")))
        return {
            "text": "ok",
            "confidence": 1.0,
            "values": second[0].tolist(),
            "options": options,
            "cards": [stages.card().name, stages.card("finder").name],
        }


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    root = tmp_path_factory.mktemp("models")
    _save_model(root / "main", "main", 2.0, components=["finder"])
    _save_model(root / "main" / "finder", "finder", 10.0)
    settings = RecognizerSettings(model_dir=root, default_model="main")
    with TestClient(create_recognizer_app(TwoStageRecognizer(), settings)) as test_client:
        for _ in range(200):  # models load in the background after start-up
            if test_client.get("/readyz").status_code == 200:
                break
            time.sleep(0.05)
        yield test_client


def _png(values: list[int]) -> bytes:
    image = Image.new("L", (8, 2), 0)
    for x, value in enumerate(values):
        image.putpixel((x, 0), value)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_a_staged_recognizer_runs_its_component_and_main_model(client: TestClient) -> None:
    reply = client.post(
        "/v1/recognize?factor=0.5&ignored=1",
        files={"file": ("x.png", _png([1, 2, 3, 4]))},
    )
    assert reply.status_code == 200, reply.text
    result = reply.json()["result"]
    # finder x10, then x0.5 from the option, then main x2.
    assert result["values"] == pytest.approx([10.0, 20.0, 30.0, 40.0])
    assert result["options"] == {"factor": "0.5"}  # only the recognizer's own options arrive
    assert result["cards"] == ["main", "finder"]


def test_models_list_component_cards_and_options(client: TestClient) -> None:
    listing = client.get("/v1/models").json()
    assert listing["options"] == ["factor"]
    (model,) = listing["models"]
    assert model["name"] == "main"
    assert model["components"]["finder"]["name"] == "finder"
    assert model["components"]["finder"]["version"] == "1.0.0"
