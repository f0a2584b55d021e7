"""The shared recognizer app with a staged recognizer: components, options, the batchers, and
the catalogue (`GET /v1/models`) the gateway builds its routes from."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import BaseModel, Field

from recognition_common.serving.app import create_app
from recognition_common.serving.model_card import ModelCard, write_card
from recognition_common.serving.recognizer import Stages
from recognition_common.serving.settings import RecognizerSettings
from recognition_common.serving.spec import Execution, GatewayRoute, TaskSpec


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


class FactorOptions(BaseModel):
    factor: float = Field(1.0, gt=0, description="what the finder's output is multiplied by")


class TwoStageRecognizer:
    """Runs its component, then its main model on the component's output."""

    task = "staged"
    preprocess_version = "staged-1"

    async def run(
        self, image: Image.Image, card: ModelCard, stages: Stages, options: FactorOptions
    ) -> dict[str, Any]:
        pixels = await stages.cpu(lambda: np.asarray(image.convert("L"), dtype=np.float32)[0, :4])
        first = await stages.infer(pixels[np.newaxis], "finder")
        second = await stages.infer(first * options.factor)
        return {
            "text": "ok",
            "confidence": 1.0,
            "values": second[0].tolist(),
            "options": options.model_dump(),
            "cards": [stages.card().name, stages.card("finder").name],
        }


EXTRA = GatewayRoute(
    name="extra",
    method="GET",
    path="/v1/extra",
    summary="An extra route",
    passed_headers=("Content-Type",),
    download_filename="extra.txt",
    parameters=({"name": "model", "in": "query", "required": False, "schema": {"type": "string"}},),
    responses={"200": {"description": "text"}},
)

SPEC = TaskSpec(
    name="staged",
    settings=RecognizerSettings,
    recognizer=lambda _: TwoStageRecognizer(),
    execution=Execution.STAGED,
    options=FactorOptions,
    routes=(EXTRA,),
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    root = tmp_path_factory.mktemp("models")
    _save_model(root / "main", "main", 2.0, components=["finder"])
    _save_model(root / "main" / "finder", "finder", 10.0)
    settings = RecognizerSettings(model_dir=root, default_model="main")
    with TestClient(create_app(SPEC, settings)) as test_client:
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
    assert result["options"] == {"factor": 0.5}  # only the task's own options arrive, typed
    assert result["cards"] == ["main", "finder"]


def test_models_list_component_cards_and_options(client: TestClient) -> None:
    listing = client.get("/v1/models").json()
    assert listing["options"] == ["factor"]
    (model,) = listing["models"]
    assert model["name"] == "main"
    assert model["components"]["finder"]["name"] == "finder"
    assert model["components"]["finder"]["version"] == "1.0.0"


def test_a_bad_option_is_a_400_naming_it(client: TestClient) -> None:
    reply = client.post("/v1/recognize?factor=-1", files={"file": ("x.png", _png([1, 2, 3, 4]))})
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["code"] == "bad_request"
    assert reply.json()["error"]["message"].startswith("factor:")
    # The image is checked first, as before: not an image is a 415 whatever the options.
    reply = client.post("/v1/recognize?factor=-1", files={"file": ("x.png", b"no image")})
    assert reply.status_code == 415, reply.text


def test_the_catalogue_publishes_options_schema_and_gateway_routes(client: TestClient) -> None:
    listing = client.get("/v1/models").json()
    for field in ("task", "ready", "default_model", "preprocess_version", "options", "device", "max_batch"):
        assert field in listing
    schema = listing["options_schema"]
    assert schema["type"] == "object"
    assert schema["properties"]["factor"]["type"] == "number"
    assert schema["properties"]["factor"]["default"] == 1.0
    assert schema["properties"]["factor"]["description"] == "what the finder's output is multiplied by"
    assert listing["routes"] == [
        {
            "name": "extra",
            "method": "GET",
            "path": "/v1/extra",
            "summary": "An extra route",
            "description": "",
            "passed_headers": ["content-type"],
            "download_filename": "extra.txt",
            "parameters": [{"name": "model", "in": "query", "required": False, "schema": {"type": "string"}}],
            "request_body": None,
            "responses": {"200": {"description": "text"}},
        }
    ]
