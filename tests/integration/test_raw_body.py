"""One upload contract for every task: the image as the raw request body (`application/octet-stream`
or `image/*`), options in the query string, is accepted by each task's route like a form upload."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from meter_service.odometer import wheel_positions
from meter_service.synth import render_window
from tests.support.images import captcha_png, digit_png, encode
from tests.support.processes import UvicornApp

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("content_type", ["application/octet-stream", "image/png"])
def test_a_raw_body_is_an_upload_for_every_task(gateway: UvicornApp, content_type: str) -> None:
    window = render_window(wheel_positions(2572.4, 5), rng=np.random.default_rng([4, 1])).image
    bodies = {"digit": digit_png("7"), "captcha": captcha_png("ab12", seed=5), "meter": encode(window)}
    for task, body in bodies.items():
        reply = httpx.post(
            f"{gateway.url}/api/v1/{task}/recognize",
            content=body,
            headers={"content-type": content_type},
            params={"mode": "window"} if task == "meter" else None,
            timeout=30,
        )
        assert reply.status_code == 200, (task, reply.text)
        assert reply.json()["task"] == task and reply.json()["result"]["text"]


def test_a_raw_body_is_an_upload_for_every_service(
    digit_backend: UvicornApp, captcha_backend: UvicornApp, meter_backend: UvicornApp
) -> None:
    window = render_window(wheel_positions(2572.4, 5), rng=np.random.default_rng([4, 1])).image
    services = {
        digit_backend: digit_png("3"),
        captcha_backend: captcha_png("zz90", seed=6),
        meter_backend: encode(window),
    }
    for service, body in services.items():
        reply = httpx.post(
            f"{service.url}/v1/recognize",
            content=body,
            headers={"content-type": "application/octet-stream"},
            timeout=30,
        )
        assert reply.status_code == 200, (service.name, reply.text)
