"""Model hot reload in the shared service: load beside, swap at once, drain the old model.

Tiny one-layer models (they multiply their 4 inputs by a scale) make every answer say which
model computed it, so the tests can check that an answer and the model it names always agree.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from PIL import Image

from recognition_common.serving.app import create_app
from recognition_common.serving.model_card import ModelCard, write_card
from recognition_common.serving.models import fingerprint
from recognition_common.serving.recognizer import Prepared
from recognition_common.serving.registry import ServedModel
from recognition_common.serving.settings import RecognizerSettings
from recognition_common.serving.spec import Execution, TaskSpec

PIXELS = [1, 2, 3, 4]


def save_model(model_dir: Path, name: str, scale: float, components: list[str] | None = None) -> None:
    """A model multiplying its 4 inputs by `scale`, written beside and then moved in (atomically,
    as an operator should replace a served model's files)."""
    import keras

    staging = model_dir.with_name(model_dir.name + ".new")
    staging.mkdir(parents=True, exist_ok=True)
    inputs = keras.Input((4,))
    layer = keras.layers.Dense(4, use_bias=False, kernel_initializer=keras.initializers.Identity(scale))
    keras.Model(inputs, layer(inputs)).save(staging / "model.keras")
    card = ModelCard(
        name=name,
        version="1.0.0",  # never bumped here: the fingerprint must tell the models apart
        task="scale",
        classes=["a", "b", "c", "d"],
        input_shape=[4],
        created="2026-11-21",
        **({"components": components} if components else {}),
    )
    write_card(staging, card)
    model_dir.mkdir(parents=True, exist_ok=True)
    for file in ("model.keras", "card.json"):
        os.replace(staging / file, model_dir / file)
    shutil.rmtree(staging)


class ScaleRecognizer:
    """The first 4 pixels of the image's first row through the model (and its `pre` component,
    when the card lists one)."""

    task = "scale"
    preprocess_version = "1"
    options = ()

    async def run(self, image: Image.Image, card: ModelCard, stages: Any, options: dict) -> dict[str, Any]:
        inputs = np.asarray(image.convert("L"), dtype=np.float32)[0, :4][np.newaxis]
        if card.components:
            inputs = await stages.infer(inputs, "pre")
        outputs = await stages.infer(inputs)
        return {"text": "ok", "confidence": 1.0, "values": [round(float(v), 3) for v in outputs[0]]}


class PlainScaleRecognizer:
    task = "scale"
    preprocess_version = "1"

    def preprocess(self, image: Image.Image, card: ModelCard) -> Prepared:
        return Prepared(np.asarray(image.convert("L"), dtype=np.float32)[0, :4][np.newaxis])

    def decode(self, outputs: np.ndarray, prepared: Prepared, card: ModelCard) -> dict[str, Any]:
        return {"text": "ok", "confidence": 1.0, "values": [round(float(v), 3) for v in outputs[0]]}


def png(values: list[int] = PIXELS) -> bytes:
    image = Image.new("L", (8, 2), 0)
    for x, value in enumerate(values):
        image.putpixel((x, 0), value)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def scaled(scale: float) -> list[float]:
    return [value * scale for value in PIXELS]


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, and a client talking to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service", timeout=60) as client:
            for _ in range(600):
                if (await client.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError((await client.get("/readyz")).text)
            yield client


def make_app(root: Path, recognizer: Any = None, **settings: Any) -> FastAPI:
    options = RecognizerSettings(model_dir=root, default_model="main", max_wait_ms=1, **settings)
    chosen = recognizer or ScaleRecognizer()
    execution = Execution.STAGED if isinstance(chosen, ScaleRecognizer) else Execution.PLAIN
    spec = TaskSpec(
        name="scale", settings=RecognizerSettings, recognizer=lambda _: chosen, execution=execution
    )
    return create_app(spec, options)


async def recognize(client: httpx.AsyncClient, data: bytes | None = None) -> dict[str, Any]:
    reply = await client.post("/v1/recognize", files={"file": ("x.png", data or png())})
    assert reply.status_code == 200, reply.text
    return reply.json()


def served_model(app: FastAPI, name: str = "main") -> ServedModel:
    return app.state.service.registry.models[name]


async def wait_drained(client: httpx.AsyncClient) -> None:
    for _ in range(500):
        if (await client.get("/readyz")).json()["retiring"] == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the replaced model never finished draining")


async def test_changed_files_are_loaded_beside_then_swapped_and_the_old_model_stops(tmp_path: Path) -> None:
    save_model(tmp_path / "main", "main", 2.0)
    save_model(tmp_path / "other", "other", 5.0)
    app = make_app(tmp_path, PlainScaleRecognizer())
    async with serving(app) as client:
        before = await recognize(client)
        assert before["result"]["values"] == scaled(2.0)
        main_print = fingerprint(tmp_path / "main")
        assert before["model"] == {"name": "main", "version": "1.0.0", "fingerprint": main_print}
        old, other = served_model(app), served_model(app, "other")

        save_model(tmp_path / "main", "main", 3.0)  # same name, same version: only the files differ
        reply = await client.post("/v1/admin/reload")
        assert reply.status_code == 200, reply.text
        report = reply.json()
        assert report["reloaded"] == ["main"] and report["unchanged"] == ["other"]
        new_print = fingerprint(tmp_path / "main")
        assert new_print != old.fingerprint and report["models"]["main"]["fingerprint"] == new_print

        after = await recognize(client)
        assert after["result"]["values"] == scaled(3.0)
        assert after["model"]["fingerprint"] == new_print and after["model"]["version"] == "1.0.0"
        listing = {card["name"]: card for card in (await client.get("/v1/models")).json()["models"]}
        assert listing["main"]["fingerprint"] == new_print
        assert listing["other"]["fingerprint"] == other.fingerprint
        assert served_model(app, "other") is other  # untouched files: not reloaded

        await wait_drained(client)
        assert not old.batcher.running and served_model(app).batcher.running
        assert other.batcher.running

        # Nothing changed since: nothing is loaded again.
        again = (await client.post("/v1/admin/reload")).json()
        assert again["status"] == "unchanged" and again["reloaded"] == []


async def test_requests_during_a_reload_all_succeed_and_name_the_model_that_answered(tmp_path: Path) -> None:
    save_model(tmp_path / "main", "main", 2.0)
    app = make_app(tmp_path)
    async with serving(app) as client:
        old_print = served_model(app).fingerprint
        stop = asyncio.Event()
        answers: list[dict[str, Any]] = []
        ready: list[int] = []

        async def load() -> None:
            while not stop.is_set():
                answers.append(await recognize(client))

        async def poll_ready() -> None:
            while not stop.is_set():
                ready.append((await client.get("/readyz")).status_code)
                await asyncio.sleep(0.005)

        workers = [asyncio.create_task(load()) for _ in range(8)] + [asyncio.create_task(poll_ready())]
        await asyncio.sleep(0.3)
        save_model(tmp_path / "main", "main", 3.0)
        reply = await client.post("/v1/admin/reload")
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.gather(*workers)

        assert reply.status_code == 200, reply.text
        new_print = served_model(app).fingerprint
        by_print = {old_print: scaled(2.0), new_print: scaled(3.0)}
        # Every answer came whole from one model, and says which.
        assert all(a["result"]["values"] == by_print[a["model"]["fingerprint"]] for a in answers)
        prints = [a["model"]["fingerprint"] for a in answers]
        assert old_print in prints and new_print in prints
        assert prints[-1] == new_print
        assert set(ready) == {200}


async def test_a_corrupt_model_file_is_refused_and_the_old_model_keeps_serving(tmp_path: Path) -> None:
    save_model(tmp_path / "main", "main", 2.0)
    app = make_app(tmp_path)
    async with serving(app) as client:
        served = served_model(app)
        (tmp_path / "main" / "model.keras").write_bytes(b"this is not a keras file" * 100)
        reply = await client.post("/v1/admin/reload")
        assert reply.status_code == 422
        error = reply.json()["error"]
        assert error["code"] == "reload_failed"
        assert "main:" in error["message"] and "previous models keep serving" in error["message"]
        assert served_model(app) is served and served.batcher.running
        assert (await recognize(client))["result"]["values"] == scaled(2.0)
        assert (await client.get("/readyz")).status_code == 200

        # Fixed files load on the next reload.
        save_model(tmp_path / "main", "main", 4.0)
        assert (await client.post("/v1/admin/reload")).status_code == 200
        assert (await recognize(client))["result"]["values"] == scaled(4.0)


@pytest.mark.parametrize(
    "card",
    [
        '{"name": "main", "version": "1.0.0"',  # not JSON
        json.dumps({"name": "main", "version": "1.0.0", "task": "scale"}),  # no classes, shape, date
    ],
)
async def test_a_card_that_does_not_validate_is_refused(tmp_path: Path, card: str) -> None:
    save_model(tmp_path / "main", "main", 2.0)
    app = make_app(tmp_path)
    async with serving(app) as client:
        served = served_model(app)
        (tmp_path / "main" / "card.json").write_text(card)
        reply = await client.post("/v1/admin/reload")
        assert reply.status_code == 422 and reply.json()["error"]["code"] == "reload_failed"
        assert "ValidationError" in reply.json()["error"]["message"]
        assert served_model(app) is served
        assert (await recognize(client))["result"]["values"] == scaled(2.0)


async def test_one_bad_model_refuses_the_whole_reload(tmp_path: Path) -> None:
    save_model(tmp_path / "main", "main", 2.0)
    save_model(tmp_path / "other", "other", 5.0)
    app = make_app(tmp_path)
    async with serving(app) as client:
        save_model(tmp_path / "main", "main", 3.0)  # good
        (tmp_path / "other" / "model.keras").write_bytes(b"garbage")  # bad
        reply = await client.post("/v1/admin/reload")
        assert reply.status_code == 422 and "other:" in reply.json()["error"]["message"]
        assert (await recognize(client))["result"]["values"] == scaled(2.0)  # nothing swapped
        assert (await client.get("/readyz")).json()["retiring"] == 0


async def test_components_reload_with_their_parent(tmp_path: Path) -> None:
    save_model(tmp_path / "main", "main", 2.0, components=["pre"])
    save_model(tmp_path / "main" / "pre", "pre", 10.0)
    app = make_app(tmp_path)
    async with serving(app) as client:
        assert (await recognize(client))["result"]["values"] == scaled(20.0)
        old = served_model(app)
        old_component = old.components["pre"]

        save_model(tmp_path / "main" / "pre", "pre", 100.0)  # only the component's file changes
        reply = await client.post("/v1/admin/reload")
        assert reply.status_code == 200 and reply.json()["reloaded"] == ["main"]
        new = served_model(app)
        assert new.fingerprint != old.fingerprint
        assert new.components["pre"].fingerprint != old_component.fingerprint
        assert (await recognize(client))["result"]["values"] == scaled(200.0)
        card = (await client.get("/v1/models")).json()["models"][0]
        assert card["fingerprint"] == new.fingerprint
        assert card["components"]["pre"]["fingerprint"] == new.components["pre"].fingerprint
        await wait_drained(client)
        assert not old.batcher.running and not old_component.batcher.running

        # A broken component refuses the parent's reload too.
        (tmp_path / "main" / "pre" / "model.keras").write_bytes(b"garbage")
        assert (await client.post("/v1/admin/reload")).status_code == 422
        assert (await recognize(client))["result"]["values"] == scaled(200.0)


async def test_models_added_and_removed_and_the_default_must_stay(tmp_path: Path) -> None:
    save_model(tmp_path / "main", "main", 2.0)
    app = make_app(tmp_path)
    async with serving(app) as client:
        save_model(tmp_path / "extra", "extra", 7.0)
        report = (await client.post("/v1/admin/reload")).json()
        assert report["added"] == ["extra"] and report["unchanged"] == ["main"]
        reply = await client.post("/v1/recognize?model=extra", files={"file": ("x.png", png())})
        assert reply.json()["result"]["values"] == scaled(7.0)

        shutil.rmtree(tmp_path / "extra")
        assert (await client.post("/v1/admin/reload")).json()["removed"] == ["extra"]
        reply = await client.post("/v1/recognize?model=extra", files={"file": ("x.png", png())})
        assert reply.status_code == 404

        shutil.rmtree(tmp_path / "main")
        reply = await client.post("/v1/admin/reload")
        assert reply.status_code == 422 and "default model" in reply.json()["error"]["message"]
        assert (await recognize(client))["result"]["values"] == scaled(2.0)


async def test_reload_needs_the_admin_token_when_one_is_set(tmp_path: Path) -> None:
    save_model(tmp_path / "main", "main", 2.0)
    app = make_app(tmp_path, admin_token="s3cret")
    async with serving(app) as client:
        assert (await client.post("/v1/admin/reload")).status_code == 401
        wrong = await client.post("/v1/admin/reload", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"
        right = await client.post("/v1/admin/reload", headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200
