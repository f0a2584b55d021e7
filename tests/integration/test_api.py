"""The public API through real processes: gateway -> digit service, with redis-server behind."""

from __future__ import annotations

import base64
import io
import uuid

import httpx
import pytest
from PIL import Image

from digit_service.synth import draw_number
from tests.support.assertions import assert_error
from tests.support.digits import touching_pair
from tests.support.images import encode, png_bomb, salted
from tests.support.processes import UvicornApp


def unique_png(text: str = "7", **kwargs: object) -> bytes:
    """A drawing of `text` that no other test sent, so the cache has not seen it."""
    image = salted(draw_number(text, **kwargs), uuid.uuid4().int)
    return encode(image)


@pytest.fixture(scope="module")
def client(gateway: UvicornApp) -> httpx.Client:
    with httpx.Client(base_url=gateway.url, timeout=30) as session:
        yield session


def recognize(client: httpx.Client, data: bytes, **params: str) -> httpx.Response:
    return client.post(
        "/api/v1/digit/recognize", files={"file": ("digit.png", data, "image/png")}, params=params
    )


def test_recognize_multipart_returns_the_contract(client: httpx.Client) -> None:
    reply = recognize(client, unique_png("7"))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert set(body) == {"task", "model", "result", "cached", "elapsed_ms", "request_id"}
    assert body["task"] == "digit" and body["cached"] is False
    assert body["model"]["name"] == "cnn" and body["model"]["version"]
    result = body["result"]
    assert result["text"] == "7" and 0.5 < result["confidence"] <= 1
    (digit,) = result["digits"]
    assert digit["digit"] == 7 and len(digit["probabilities"]) == 10
    assert abs(sum(digit["probabilities"]) - 1) < 0.01
    assert max(digit["probabilities"]) == digit["confidence"]
    seen = Image.open(io.BytesIO(base64.b64decode(digit["image_png_base64"])))
    assert seen.size == (28, 28)
    assert reply.headers["x-cache"] == "MISS"
    assert reply.headers["x-request-id"] == body["request_id"]


def test_second_identical_request_is_a_cache_hit(client: httpx.Client, redis_server) -> None:
    data = unique_png("3")
    first = recognize(client, data)
    second = recognize(client, data)
    assert first.headers["x-cache"] == "MISS" and second.headers["x-cache"] == "HIT"
    assert second.json()["cached"] is True
    assert second.json()["result"] == first.json()["result"]
    # The entry really lives in Redis, keyed by model version and pre-processing version.
    import redis

    keys = redis.Redis.from_url(redis_server.url).keys("rs:result:v2:digit:cnn:*")
    assert keys and all(first.json()["model"]["version"].encode() in key for key in keys)


def test_cache_is_per_model(client: httpx.Client) -> None:
    data = unique_png("4")
    assert recognize(client, data).headers["x-cache"] == "MISS"
    other = recognize(client, data, model="lenet5")
    assert other.headers["x-cache"] == "MISS"
    assert other.json()["model"]["name"] == "lenet5"
    assert other.json()["result"]["text"] == "4"


def test_json_base64_and_model_in_body(client: httpx.Client) -> None:
    payload = {"image_base64": base64.b64encode(unique_png("2")).decode(), "model": "lenet5"}
    reply = client.post("/api/v1/digit/recognize", json=payload)
    assert reply.status_code == 200
    assert reply.json()["model"]["name"] == "lenet5" and reply.json()["result"]["text"] == "2"


def test_model_as_form_field(client: httpx.Client) -> None:
    reply = client.post(
        "/api/v1/digit/recognize",
        files={"file": ("d.png", unique_png("5"), "image/png")},
        data={"model": "lenet5"},
    )
    assert reply.json()["model"]["name"] == "lenet5"


def test_a_written_number(client: httpx.Client) -> None:
    data = unique_png("2024", size=(900, 260), box=(0.04, 0.1, 0.96, 0.9), width=16)
    result = recognize(client, data).json()["result"]
    assert result["text"] == "2024"
    assert [d["digit"] for d in result["digits"]] == [2, 0, 2, 4]


@pytest.mark.parametrize("model", ["cnn", "lenet5"])
def test_touching_digits_are_split_by_the_pair_detector(client: httpx.Client, model: str) -> None:
    """Two digits whose strokes run together: the service asks the model's pair detector (a
    component behind its own batcher) and reads two digits, not one wide one."""
    texts = ("35", "72", "88")
    read = [
        recognize(client, encode(touching_pair(text)), model=model).json()["result"]["text"] for text in texts
    ]
    assert sum(got == text for got, text in zip(read, texts, strict=True)) >= 2, read
    assert all(len(got) == 2 for got in read), read


def test_request_id_is_passed_through(client: httpx.Client) -> None:
    reply = client.post(
        "/api/v1/digit/recognize",
        files={"file": ("d.png", unique_png("1"))},
        headers={"X-Request-ID": "trace-abc.123"},
    )
    assert reply.json()["request_id"] == "trace-abc.123"


def test_empty_canvas_is_422(client: httpx.Client) -> None:
    assert_error(recognize(client, encode(Image.new("RGB", (280, 280), "white"))), 422, "empty_image")


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"GIF89a" + b"\x00" * 20, 422, "unreadable_image"),
        (b"%PDF-1.4 not an image", 415, "unsupported_media_type"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', 415, "unsupported_media_type"),
        (png_bomb(), 413, "image_too_large"),
    ],
    ids=["truncated-gif", "pdf-named-png", "svg", "bomb"],
)
def test_bad_images(client: httpx.Client, data: bytes, status: int, code: str) -> None:
    assert_error(recognize(client, data), status, code)


def test_truncated_png(client: httpx.Client) -> None:
    data = encode(Image.effect_noise((300, 300), 50))
    assert_error(recognize(client, data[: len(data) // 3]), 422)


def test_upload_over_10_mb_is_413(client: httpx.Client) -> None:
    assert_error(recognize(client, b"\x89PNG\r\n\x1a\n" + b"\x00" * (11 * 1024 * 1024)), 413)


def test_bad_bodies(client: httpx.Client) -> None:
    assert_error(client.post("/api/v1/digit/recognize", files={"image": ("d.png", b"x")}), 400)
    assert_error(client.post("/api/v1/digit/recognize", json={"image_base64": "%%%"}), 400)
    assert_error(
        client.post("/api/v1/digit/recognize", content=b"{", headers={"content-type": "application/json"}),
        400,
    )


def test_unknown_task_and_model(client: httpx.Client) -> None:
    assert_error(
        client.post("/api/v1/poetry/recognize", files={"file": ("d.png", unique_png())}), 404, "unknown_task"
    )
    assert_error(recognize(client, unique_png(), model="alexnet"), 404, "unknown_model")


def test_models_list_carries_cards(client: httpx.Client) -> None:
    body = client.get("/api/v1/models").json()
    digit = body["tasks"]["digit"]
    assert digit["status"] == "ok" and digit["default_model"] == "cnn"
    cards = {card["name"]: card for card in digit["models"]}
    assert set(cards) >= {"cnn", "lenet5"}
    for card in cards.values():
        assert card["classes"] == [str(i) for i in range(10)]
        assert card["input_shape"] == [28, 28, 1]
        assert card["version"] and card["created"] and card["training_data"]


def test_operations_endpoints(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ok"
    assert body["backends"]["digit"]["status"] == "ok"
    assert body["cache"]["backend"] == "redis" and body["cache"]["status"] == "ok"
    recognize(client, unique_png("9"))
    metrics = client.get("/metrics").text
    assert 'gateway_requests_total{cache="miss",status="200",task="digit"}' in metrics
    assert client.get("/openapi.json").json()["paths"]["/api/v1/{task}/recognize"]["post"]
    assert "swagger" in client.get("/docs").text.lower()


def test_frontend_is_served(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert_error(client.get("/no/such/page.html"), 404)


def test_service_metrics_show_batches(digit_backend: UvicornApp) -> None:
    text = httpx.get(digit_backend.url + "/metrics").text
    assert "recognizer_batch_size_count" in text and "recognizer_requests_total" in text
