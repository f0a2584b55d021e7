"""The captcha API through real processes: gateway -> captcha service with the shipped models."""

from __future__ import annotations

import base64
import io
import random

import httpx
import pytest
from PIL import Image

from captcha_service.labels import DIGITS_LOWER
from tests.support.assertions import assert_error
from tests.support.images import captcha_png
from tests.support.processes import UvicornApp

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(gateway: UvicornApp) -> httpx.Client:
    with httpx.Client(base_url=gateway.url, timeout=30) as session:
        yield session


@pytest.fixture(scope="module")
def service(captcha_backend: UvicornApp) -> httpx.Client:
    with httpx.Client(base_url=captcha_backend.url, timeout=30) as session:
        yield session


def recognize(client: httpx.Client, data: bytes, **params: str) -> httpx.Response:
    return client.post(
        "/api/v1/captcha/recognize", files={"file": ("c.png", data, "image/png")}, params=params
    )


def test_default_model_reads_fresh_captchas(client: httpx.Client) -> None:
    rng = random.Random(90210)  # not a training or evaluation seed
    right = 0
    for index in range(20):
        text = "".join(rng.choice(DIGITS_LOWER) for _ in range(4))
        reply = recognize(client, captcha_png(text, seed=90210 + index))
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["task"] == "captcha" and body["model"]["name"] == "default"
        result = body["result"]
        assert {"text", "confidence", "rejected", "characters"} <= set(result)
        assert [c["char"] for c in result["characters"]] == list(result["text"])
        assert all(0 <= c["confidence"] <= 1 for c in result["characters"])
        right += result["text"] == text
    assert right >= 16, f"only {right}/20 read right"


def test_model_picker_and_catalogue(client: httpx.Client) -> None:
    models = client.get("/api/v1/models").json()["tasks"]["captcha"]
    assert models["status"] == "ok" and models["default_model"] == "default"
    cards = {card["name"]: card for card in models["models"]}
    assert {"default", "alnum-4to6"} <= set(cards)
    wide = cards["alnum-4to6"]
    assert (wide["min_length"], wide["max_length"], wide["width"], wide["height"]) == (4, 6, 160, 60)
    assert wide["charset"] == "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

    reply = recognize(client, captcha_png("K7Q2XA", seed=5, width=160), model="alnum-4to6")
    assert reply.status_code == 200, reply.text
    assert reply.json()["model"]["name"] == "alnum-4to6"
    assert 4 <= len(reply.json()["result"]["text"]) <= 6
    assert_error(recognize(client, captcha_png("abcd", seed=6), model="nope"), 404, "unknown_model")


def test_seed_compatible_b_endpoint(service: httpx.Client) -> None:
    reply = service.post("/b", files={"image_file": ("c.png", captcha_png("x7k2", seed=11), "image/png")})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert isinstance(body["time"], int) and isinstance(body["value"], str) and len(body["value"]) <= 6
    assert body["speed_time(ms)"] >= 0
    assert_error(service.post("/b", files={"file": ("c.png", b"x", "image/png")}), 400, "bad_request")


def test_sample_endpoint_on_service_and_gateway(service: httpx.Client, client: httpx.Client) -> None:
    for reply in (service.get("/captcha/"), client.get("/api/v1/captcha/sample")):
        assert reply.status_code == 200 and reply.headers["content-type"] == "image/png"
        text = reply.headers["x-captcha-text"]
        assert len(text) == 4 and set(text) <= set(DIGITS_LOWER)
        assert Image.open(io.BytesIO(reply.content)).size == (100, 60)
    wide = client.get("/api/v1/captcha/sample", params={"model": "alnum-4to6"})
    assert Image.open(io.BytesIO(wide.content)).size == (160, 60)
    assert 4 <= len(wide.headers["x-captcha-text"]) <= 6
    assert_error(client.get("/api/v1/captcha/sample", params={"model": "nope"}), 404, "unknown_model")


def test_batch_answers_in_order(service: httpx.Client, client: httpx.Client) -> None:
    texts = ["ab12", "zz90", "q7w3"]
    images = [captcha_png(text, seed=300 + i) for i, text in enumerate(texts)]
    files = [("files", (f"{i}.png", data, "image/png")) for i, data in enumerate(images)]
    files.insert(1, ("files", ("bad.png", b"not an image", "image/png")))
    reply = service.post("/v1/recognize-batch", files=files)
    assert reply.status_code == 200, reply.text
    results = reply.json()["results"]
    assert [r["status"] for r in results] == [200, 415, 200, 200]
    assert results[1]["error"]["code"] == "unsupported_media_type"
    read = [r["result"]["text"] for r in results if r["status"] == 200]
    assert sum(a == b for a, b in zip(read, texts, strict=True)) >= 2

    encoded = [base64.b64encode(data).decode() for data in images]
    through = client.post("/api/v1/captcha/recognize-batch", json={"images_base64": encoded})
    assert through.status_code == 200, through.text
    assert [r["result"]["text"] for r in through.json()["results"]] == read
    # Named like every answer: the batch's model with its files' fingerprint.
    served = {card["name"]: card for card in service.get("/v1/models").json()["models"]}
    model = through.json()["model"]
    assert model["fingerprint"] and model["fingerprint"] == served[model["name"]]["fingerprint"]
    assert_error(
        client.post("/api/v1/captcha/recognize-batch", json={"images_base64": []}), 400, "bad_request"
    )


def test_errors_are_json(client: httpx.Client) -> None:
    assert_error(client.post("/api/v1/captcha/recognize"), 400, "bad_request")
    assert_error(recognize(client, b"definitely not an image"), 415, "unsupported_media_type")
    truncated = captcha_png("abcd", seed=1)[:100]
    assert_error(recognize(client, truncated), 422, "unreadable_image")


def test_v1_sample_is_the_captcha_route_under_the_gateways_path(service: httpx.Client) -> None:
    for path in ("/captcha/", "/v1/sample"):
        reply = service.get(path, params={"model": "alnum-4to6"})
        assert reply.status_code == 200 and reply.headers["content-type"] == "image/png", reply.text
        assert (
            reply.headers["x-captcha-model"] == "alnum-4to6" and reply.headers["cache-control"] == "no-store"
        )
        assert 4 <= len(reply.headers["x-captcha-text"]) <= 6
    assert service.get("/v1/sample", params={"model": "nope"}).status_code == 404
    routes = {route["name"]: route["path"] for route in service.get("/v1/models").json()["routes"]}
    assert routes == {"sample": "/v1/sample", "recognize-batch": "/v1/recognize-batch"}
