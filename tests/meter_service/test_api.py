"""The meter API through real processes with the shipped models: service direct and via the gateway."""

from __future__ import annotations

import base64
import io
import zipfile

import httpx
import numpy as np
import pytest
from PIL import Image

from meter_service.geometry import quad_iou
from meter_service.odometer import wheel_positions
from meter_service.synth import generate_meter, render_window, sample_rng
from meter_service.training.evaluate import truth_text
from tests.support.assertions import assert_error
from tests.support.images import encode
from tests.support.processes import UvicornApp

pytestmark = pytest.mark.slow

SEED = 90210  # not a training, validation, evaluation or demo seed


@pytest.fixture(scope="module")
def client(gateway: UvicornApp) -> httpx.Client:
    with httpx.Client(base_url=gateway.url, timeout=30) as session:
        yield session


@pytest.fixture(scope="module")
def service(meter_backend: UvicornApp) -> httpx.Client:
    with httpx.Client(base_url=meter_backend.url, timeout=30) as session:
        yield session


def recognize(client: httpx.Client, data: bytes, path: str = "/api/v1/meter/recognize", **options: str):
    return client.post(path, files={"file": ("meter.jpg", data, "image/jpeg")}, data=options)


def test_generated_photos_are_read_end_to_end(client: httpx.Client) -> None:
    right = 0
    for index in range(10):
        sample = generate_meter(sample_rng(SEED, index), wheels=5)
        reply = recognize(client, encode(sample.image, "JPEG", quality=90))
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["task"] == "meter" and body["model"]["name"] == "default"
        result = body["result"]
        assert result["mode"] == "photo" and len(result["digits"]) == 5 and len(result["text"]) == 5
        assert [wheel["digit"] for wheel in result["digits"]] == [int(d) for d in result["text"]]
        assert 0 <= result["confidence"] <= 1 and 0 <= result["window_score"] <= 1
        assert quad_iou(np.array(result["corners"]), sample.corners) > 0.5
        # Pixels to a tenth, as written: 338.7, not float32's 338.70001220703125.
        assert all(round(v, 1) == v and len(repr(v)) <= 8 for corner in result["corners"] for v in corner)
        crop = Image.open(io.BytesIO(base64.b64decode(result["crop_png_base64"])))
        assert crop.size == (100, 32)
        right += result["text"] == truth_text(sample.positions)
    assert right >= 8, f"only {right}/10 read right"


def test_window_crops_auto_and_explicit(client: httpx.Client) -> None:
    rng = np.random.default_rng([SEED, 1])
    sample = render_window(wheel_positions(2572.4, 5), rng=rng)
    data = encode(sample.image, "PNG")
    auto = recognize(client, data).json()["result"]
    assert auto["mode"] == "window" and auto["corners"] is None and auto["window_score"] is None
    assert auto["text"] == "02572" and auto["value"] == pytest.approx(2572.4, abs=0.3)
    assert auto["digits"][-1]["rolling"] is True and auto["digits"][-1]["next_digit"] == 3
    explicit = recognize(client, data, mode="window").json()["result"]
    assert explicit["text"] == "02572"


def test_wheel_count_option(client: httpx.Client) -> None:
    sample = render_window(wheel_positions(314536.2, 6), rng=np.random.default_rng([SEED, 6]))
    reply = recognize(client, encode(sample.image, "PNG"), wheels="6")
    assert reply.status_code == 200, reply.text
    result = reply.json()["result"]
    assert len(result["digits"]) == 6 and result["text"] == "314536"
    assert Image.open(io.BytesIO(base64.b64decode(result["crop_png_base64"]))).size == (120, 32)


def test_plausibility_and_options_split_the_cache(client: httpx.Client) -> None:
    data = encode(render_window(wheel_positions(2572.4, 5), rng=np.random.default_rng([SEED, 1])).image)
    first = recognize(client, data, previous_value="2500", previous_time="2026-03-01T08:00:00Z",
                      time="2026-03-01T12:00:00Z", max_rate="50")  # fmt: skip
    assert first.status_code == 200, first.text
    verdict = first.json()["result"]["plausibility"]
    assert (
        verdict["plausible"] is True
        and verdict["hours"] == 4
        and verdict["delta"] == pytest.approx(72.4, abs=0.3)
    )
    backwards = recognize(client, data, previous_value="3000").json()
    assert backwards["cached"] is False  # another option value, another cache entry
    assert backwards["result"]["plausibility"]["plausible"] is False
    assert "backwards" in backwards["result"]["plausibility"]["reasons"][0]
    again = recognize(client, data, previous_value="3000").json()
    assert again["cached"] is True and again["result"] == backwards["result"]


def test_bad_options_are_400(client: httpx.Client, service: httpx.Client) -> None:
    data = encode(render_window(wheel_positions(12.0, 5), rng=np.random.default_rng([SEED, 2])).image)
    assert_error(recognize(client, data, wheels="3"), 400, "bad_request")
    assert_error(recognize(client, data, mode="zoom"), 400, "bad_request")
    assert_error(recognize(client, data, previous_time="yesterday"), 400, "bad_request")
    reply = recognize(service, data, "/v1/recognize", previous_value="lots")
    assert_error(reply, 400, "bad_request")
    assert "previous_value must be a number" in reply.json()["error"]["message"]


def test_not_an_image_is_415(client: httpx.Client, service: httpx.Client) -> None:
    assert_error(recognize(client, b"definitely not an image"), 415, "unsupported_media_type")
    assert_error(recognize(service, b"%PDF-1.4", "/v1/recognize"), 415, "unsupported_media_type")


def test_a_photo_without_a_meter_is_never_accepted(service: httpx.Client) -> None:
    blank = encode(Image.new("RGB", (480, 360), (128, 128, 128)), "JPEG")
    reply = recognize(service, blank, "/v1/recognize")
    assert reply.status_code == 422 and reply.json()["error"]["code"] == "empty_image", reply.text
    # Something in the picture, but no meter: refused, or at least never passed off as a reading.
    pixels = np.random.default_rng(2).integers(60, 200, (360, 480, 3), dtype=np.uint8)
    reply = recognize(service, encode(Image.fromarray(pixels), "JPEG"), "/v1/recognize")
    if reply.status_code == 422:
        assert "no counter window" in reply.json()["error"]["message"]
    else:
        assert reply.status_code == 200 and reply.json()["result"]["rejected"] is True, reply.text


def test_seed_compatible_recognize_route(service: httpx.Client) -> None:
    data = encode(render_window(wheel_positions(2572.4, 5), rng=np.random.default_rng([SEED, 1])).image)
    reply = service.post("/recognize", files={"file": ("w.png", data, "image/png")})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["code"] == 0 and body["message"] == "ok" and body["resStr"] == "02572"
    assert Image.open(io.BytesIO(base64.b64decode(body["imgCrop"]))).format == "PNG"
    for bad in (b"not an image", encode(Image.new("RGB", (50, 50)))[:40]):
        failed = service.post("/recognize", files={"file": ("x.png", bad, "image/png")})
        assert failed.status_code == 200 and failed.json()["code"] == 1, failed.text
        assert set(failed.json()) == {"code", "message"} and failed.json()["message"]
    missing = service.post("/recognize", files={"image": ("x.png", data, "image/png")})
    assert missing.json() == {"code": 1, "message": "multipart field 'file' with the image is missing"}


def test_demo_zip(service: httpx.Client, client: httpx.Client) -> None:
    for reply in (service.get("/v1/demo"), client.get("/api/v1/meter/demo")):
        assert reply.status_code == 200 and reply.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(reply.content)) as archive:
            names = archive.namelist()
            images = [name for name in names if name.endswith((".jpg", ".png"))]
            assert len(images) >= 6
            readme = archive.read(next(name for name in names if name.endswith("README.txt"))).decode()
            for name in images:
                Image.open(io.BytesIO(archive.read(name))).verify()
                assert name.rsplit("/", 1)[-1] in readme
