"""Adding a task is one folder plus one table entry (issue 17).

A tiny fourth task, `gauge`, is written the way a developer would add one: a `gauge-service/`
folder (its package with `spec.py` and `main.py`, and a models folder holding one small Keras
model and its card) and a `[tasks.gauge]` entry in a task table beside it. It is started exactly
as `make run` starts tasks (`scripts/run_local.py`'s plan, from that table) and served through an
unmodified gateway, which learns about it only from GATEWAY_BACKENDS (built by the same plan)
and the task's own catalogue: its option is documented, forwarded and cached by, its extra route
is exposed.
"""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.deploy.helpers import script, task_table
from tests.support.processes import ManagedProcess, UvicornApp, free_port

pytestmark = pytest.mark.slow

run_local = script("run_local")

SPEC = '''
"""The gauge task: how bright an image is, on a two-class model; a test's fourth task."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter
from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from recognition_common.serving.recognizer import Stages
from recognition_common.serving.settings import RecognizerSettings
from recognition_common.serving.spec import Execution, GatewayRoute, TaskSpec


class GaugeSettings(RecognizerSettings):
    model_config = SettingsConfigDict(env_prefix="GAUGE_", protected_namespaces=())

    model_dir: Path = Path(__file__).resolve().parent.parent / "models"


class GaugeOptions(BaseModel):
    unit: Literal["bar", "psi"] = Field("bar", description="gauge only: the unit of the answer")


class GaugeRecognizer:
    task = "gauge"
    preprocess_version = "gauge-1"

    async def run(self, image: Any, card: Any, stages: Stages, options: GaugeOptions) -> dict[str, Any]:
        pixels = np.asarray(image.convert("L").resize((4, 4)), dtype=np.float32) / 255.0
        probabilities = (await stages.infer(pixels[None, :, :, None]))[0]
        best = int(np.argmax(probabilities))
        return {"text": card.classes[best], "confidence": float(probabilities[best]), "unit": options.unit}


def gauge_router(service: Any) -> APIRouter:
    router = APIRouter()

    @router.get("/v1/scale")
    async def scale() -> dict[str, list[str]]:
        return {"units": ["bar", "psi"]}

    return router


SPEC = TaskSpec(
    name="gauge",
    settings=GaugeSettings,
    recognizer=lambda settings: GaugeRecognizer(),
    execution=Execution.STAGED,
    options=GaugeOptions,
    router=gauge_router,
    routes=(GatewayRoute(name="scale", method="GET", path="/v1/scale", summary="The units a gauge reads"),),
)
'''

MAIN = """
from gauge_service.spec import SPEC
from recognition_common.serving.app import create_app

app = create_app(SPEC)
"""


def write_model(model_dir: Path) -> None:
    """A 4x4 -> {dark, light} classifier whose answer follows the image's mean brightness."""
    import keras

    from recognition_common.serving.model_card import ModelCard, write_card

    inputs = keras.Input((4, 4, 1))
    mean = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(mean)
    model = keras.Model(inputs, outputs)
    model.layers[-1].set_weights([np.array([[-20.0, 20.0]], np.float32), np.array([10.0, -10.0], np.float32)])
    model_dir.mkdir(parents=True)
    model.save(model_dir / "model.keras")
    card = ModelCard(
        name="tiny",
        version="1.0.0",
        task="gauge",
        classes=["dark", "light"],
        input_shape=[4, 4, 1],
        created="2026-12-06",
    )
    write_card(model_dir, card)


@pytest.fixture(scope="module")
def new_task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A table naming only `gauge`, with gauge's folder beside it: what a developer adds."""
    root = tmp_path_factory.mktemp("checkout")
    package = root / "gauge-service" / "gauge_service"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "spec.py").write_text(textwrap.dedent(SPEC))
    (package / "main.py").write_text(textwrap.dedent(MAIN))
    write_model(root / "gauge-service" / "models" / "tiny")
    table = root / "tasks.toml"
    table.write_text(
        f'[tasks.gauge]\nfolder = "gauge-service"\npackage = "gauge_service"\nport = {free_port()}\n'
    )
    return table


@pytest.fixture(scope="module")
def gateway_url(new_task: Path):
    """`make run`'s plan for the table, started: the gauge service, then the gateway."""
    tasks = task_table.load_tasks(new_task)  # checks the folder: package, main.py, models
    gateway_port = free_port()
    plan = run_local.plan(tasks, {"GATEWAY_PORT": str(gateway_port)})
    (gauge,) = plan.recognizers
    service = ManagedProcess("gauge-service", gauge.argv, env={"TF_CPP_MIN_LOG_LEVEL": "2"})
    service.start()
    gateway = UvicornApp(
        "gateway-gauge",
        "gateway.main:app",
        port=gateway_port,
        ready_path="/healthz",
        env={**plan.gateway_env, "GATEWAY_FEEDBACK_DIR": str(new_task.parent / "feedback")},
    )
    try:
        service.wait_http(gauge.ready_url)
        gateway.start()
        yield gateway.url
    finally:
        gateway.stop()
        service.stop()


def png(level: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (32, 32), level).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_gateway_serves_the_new_task(gateway_url: str) -> None:
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        models = client.get("/api/v1/models").json()
        assert "gauge" in json.dumps(models)
        light = client.post("/api/v1/gauge/recognize", files={"file": ("a.png", png(230), "image/png")})
        assert light.status_code == 200, light.text
        assert light.json()["result"]["text"] == "light" and light.json()["result"]["unit"] == "bar"
        dark = client.post(
            "/api/v1/gauge/recognize?unit=psi", files={"file": ("a.png", png(20), "image/png")}
        )
        assert dark.status_code == 200, dark.text
        assert dark.json()["result"]["text"] == "dark" and dark.json()["result"]["unit"] == "psi"


def test_its_option_is_validated_and_part_of_the_cache_key(gateway_url: str) -> None:
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        image = {"file": ("a.png", png(200), "image/png")}
        first = client.post("/api/v1/gauge/recognize?unit=psi", files=image).json()
        again = client.post("/api/v1/gauge/recognize?unit=psi", files=image).json()
        other = client.post("/api/v1/gauge/recognize?unit=bar", files=image).json()
        assert again["cached"] is True and first["result"] == again["result"]
        assert other["cached"] is False and other["result"]["unit"] == "bar"
        bad = client.post("/api/v1/gauge/recognize?unit=kelvin", files=image)
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"


def test_its_extra_route_and_its_documentation(gateway_url: str) -> None:
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        scale = client.get("/api/v1/gauge/scale")
        assert scale.status_code == 200 and scale.json() == {"units": ["bar", "psi"]}
        assert client.post("/api/v1/gauge/scale").status_code == 405
        document = client.get("/openapi.json").json()
        assert "/api/v1/gauge/scale" in document["paths"]
        assert "unit" in json.dumps(document["paths"]["/api/v1/{task}/recognize"])
        assert "gauge" in json.dumps(document["paths"]["/api/v1/{task}/recognize"])
