"""The meter API through real processes with the shipped models: service direct and via the gateway."""

from __future__ import annotations

import base64
import io
import zipfile
from dataclasses import replace

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw

from meter_service.geometry import quad_iou
from meter_service.odometer import MAX_WHEELS, MIN_WHEELS, acceptable_texts, wheel_positions
from meter_service.reading import snap
from meter_service.synth import (
    background,
    generate_meter,
    random_window_style,
    render_window,
    sample_rng,
    serial_plate,
)
from meter_service.wheels import red_variant
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
        reply = recognize(client, encode(sample.image, "JPEG", quality=90), wheels="5")
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["task"] == "meter" and body["model"]["name"] == "default"
        result = body["result"]
        assert result["mode"] == "photo" and len(result["digits"]) == 5 and len(result["text"]) == 5
        for wheel, shown in zip(result["digits"], result["text"], strict=True):
            # A wheel at rest shows its digit; a rolling one either of the two in view.
            assert int(shown) in (
                {wheel["digit"], wheel["next_digit"]} if wheel["rolling"] else {wheel["digit"]}
            )
        assert 0 <= result["confidence"] <= 1 and 0 <= result["window_score"] <= 1
        assert quad_iou(np.array(result["corners"]), sample.corners) > 0.5
        # Pixels to a tenth, as written: 338.7, not float32's 338.70001220703125.
        assert all(round(v, 1) == v and len(repr(v)) <= 8 for corner in result["corners"] for v in corner)
        crop = Image.open(io.BytesIO(base64.b64decode(result["crop_png_base64"])))
        assert crop.size == (100, 32)
        right += result["text"] in acceptable_texts([snap(p) for p in sample.positions])
    assert right >= 8, f"only {right}/10 read right"


def test_the_wheels_are_counted_on_photos_of_4_to_8_wheels(client: httpx.Client) -> None:
    counted = read = 0
    for index in range(10):
        wheels = MIN_WHEELS + index % (MAX_WHEELS - MIN_WHEELS + 1)
        sample = generate_meter(sample_rng(SEED + 1, index), wheels=wheels)
        reply = recognize(client, encode(sample.image, "JPEG", quality=90))  # wheels=auto, the default
        assert reply.status_code in (200, 422), reply.text
        if reply.status_code == 200:
            result = reply.json()["result"]
            counted += len(result["digits"]) == wheels
            read += result["text"] in acceptable_texts([snap(p) for p in sample.positions])
    assert counted >= 8 and read >= 7, f"{counted}/10 counted, {read}/10 read right"
    window = render_window(wheel_positions(314536.2, 6), rng=np.random.default_rng([SEED, 6]))
    result = recognize(client, encode(window.image, "PNG"), wheels="auto").json()["result"]
    assert len(result["digits"]) == 6 and result["text"] == "314536"


def test_red_decimal_wheels_are_the_fraction(client: httpx.Client) -> None:
    style = random_window_style(np.random.default_rng(11), 8)
    red = red_variant(style.wheel_styles[0], np.random.default_rng(12))
    style = replace(style, red_wheels=3, wheel_styles=(*style.wheel_styles[:5], red, red, red))
    sample = render_window(wheel_positions(409550.0, 8), style=style, rng=np.random.default_rng(13))
    result = recognize(client, encode(sample.image, "PNG")).json()["result"]
    assert result["text"] == "00409550" and result["decimals"] == 3
    assert result["value"] == pytest.approx(409.55, abs=0.001)
    assert [wheel["red"] for wheel in result["digits"]] == [False] * 5 + [True] * 3


def test_a_face_whose_only_numbers_are_a_serial_plate_is_not_read(service: httpx.Client) -> None:
    refused = 0
    for index in range(4):
        rng = np.random.default_rng([SEED, 40, index])
        photo = background(rng, (480, 480))
        face = Image.new("RGB", (300, 300), (235, 235, 228))
        mask = Image.new("L", (300, 300), 0)
        ImageDraw.Draw(mask).ellipse([0, 0, 299, 299], fill=255)
        plate = serial_plate(rng, 40, 180)
        face.paste(plate, ((300 - plate.width) // 2, 170))
        photo.paste(face, (90, 90), mask)
        reply = recognize(service, encode(photo, "JPEG"), "/v1/recognize")
        assert reply.status_code in (200, 422), reply.text
        refused += reply.status_code == 422 or reply.json()["result"]["rejected"]
    assert refused == 4, f"{4 - refused} of 4 serial plates read as a meter"


def test_window_crops_auto_and_explicit(client: httpx.Client) -> None:
    rng = np.random.default_rng([SEED, 1])
    sample = render_window(wheel_positions(2572.4, 5), rng=rng)
    data = encode(sample.image, "PNG")
    reply = recognize(client, data)
    assert reply.status_code == 200, reply.text
    auto = reply.json()["result"]
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
