"""The gateway's meter wiring: the demo download, its errors, the options, their documentation.

The gateway runs in-process (TestClient) in front of a stand-in meter service: a tiny real HTTP
server on 127.0.0.1 that answers like the meter service does and records what reached it. The real
meter service behind a real gateway is exercised by tests/browser/test_meter_page.py.
"""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import BaseModel, Field

from gateway.config import GatewaySettings
from gateway.main import create_app
from tests.support.fake_backend import FakeBackend
from tests.support.images import encode
from tests.support.processes import free_port

OPTIONS = ["mode", "wheels", "previous_value", "previous_time", "max_rate", "time"]


class MeterOptions(BaseModel):
    """The meter's options as its service publishes them (`options_schema`)."""

    mode: Literal["auto", "photo", "window"] = Field("auto", description="where the counter is")
    wheels: int | Literal["auto"] = Field("auto", ge=4, le=8, description="digit wheels, 4 to 8")
    previous_value: float | None = Field(None, description="the last known reading")
    previous_time: str | None = Field(None, description="when previous_value was read")
    max_rate: float | None = Field(None, gt=0, description="the most the meter runs per hour")
    time: str | None = Field(None, description="when this photo was taken")


DEMO_ROUTE = {
    "name": "demo",
    "method": "GET",
    "path": "/v1/demo",
    "summary": "Sample water-meter photos to try the meter task with (a zip)",
    "description": "",
    "passed_headers": ["content-type", "content-disposition", "cache-control", "etag", "retry-after"],
    "download_filename": "meter-demo.zip",
    "parameters": [],
    "request_body": None,
    "responses": {"200": {"description": "A zip of sample meter photos", "content": {"application/zip": {}}}},
}


def photo() -> bytes:
    return encode(Image.new("RGB", (64, 48), (200, 200, 200)), "JPEG")


def demo_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("meter-01.jpg", b"\xff\xd8\xff\xe0 not really a photo")
        archive.writestr("README.txt", "sample meter photos")
    return buffer.getvalue()


class FakeMeter(FakeBackend):
    """Answers /v1/models, /readyz, /v1/recognize (echoing its parameters) and /v1/demo."""

    def __init__(self, demo_status: int = 200) -> None:
        super().__init__()
        self.demo_status = demo_status
        self.recognized: list[dict[str, str]] = []

    def handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        if handler.command == "POST":
            self._post(handler)
        else:
            self._get(handler)

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        path = urlsplit(handler.path).path
        if path == "/v1/models":
            card = {"name": "default", "version": "1.0.0", "task": "meter"}
            self.send_json(
                handler,
                200,
                {
                    "task": "meter",
                    "ready": True,
                    "default_model": "default",
                    "preprocess_version": "1",
                    "models": [card],
                    "options": OPTIONS,
                    "options_schema": MeterOptions.model_json_schema(),
                    "routes": [DEMO_ROUTE],
                },
            )
        elif path == "/readyz":
            self.send_json(handler, 200, {"status": "ready"})
        elif path == "/v1/demo" and self.demo_status == 200:
            self.send(handler, 200, demo_zip(), {"Content-Type": "application/zip"})
        elif path == "/v1/demo":
            error = {"error": {"code": "not_ready", "message": "still loading"}}
            self.send_json(handler, self.demo_status, error, **{"Retry-After": "2"})
        else:
            self.send_json(handler, 404, {"error": {"code": "not_found", "message": path}})

    def _post(self, handler: BaseHTTPRequestHandler) -> None:
        params = dict(parse_qsl(urlsplit(handler.path).query))
        self.recognized.append(params)
        result = {"text": "00012", "value": 12.3, "confidence": 0.9, "rejected": False, "params": params}
        self.send_json(
            handler,
            200,
            {"model": {"name": "default", "version": "1.0.0"}, "preprocess_version": "1", "result": result},
        )


def gateway(meter_url: str) -> TestClient:
    settings = GatewaySettings(backends={"meter": meter_url}, redis_url=None)
    return TestClient(create_app(settings))


@pytest.fixture
def meter() -> Iterator[FakeMeter]:
    with FakeMeter() as fake:
        yield fake


def test_the_default_settings_wire_the_meter_like_the_other_recognizers() -> None:
    assert GatewaySettings().backends["meter"] == "http://127.0.0.1:8003"
    assert set(GatewaySettings().backends) == {"digit", "captcha", "meter"}


def test_demo_is_passed_through_as_a_zip_download(meter: FakeMeter) -> None:
    with gateway(meter.url) as client:
        reply = client.get("/api/v1/meter/demo", headers={"X-Request-ID": "demo-1"})
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/zip"
    assert reply.headers["content-disposition"].startswith("attachment")
    assert reply.headers["x-request-id"] == "demo-1"
    assert zipfile.ZipFile(io.BytesIO(reply.content)).namelist() == ["meter-01.jpg", "README.txt"]


def test_demo_when_the_meter_service_is_down_is_503() -> None:
    with gateway(f"http://127.0.0.1:{free_port()}") as client:
        reply = client.get("/api/v1/meter/demo")
    assert reply.status_code == 503
    assert reply.json()["error"]["code"] == "backend_unavailable"
    assert reply.headers["retry-after"]


def test_demo_passes_the_services_own_error_through() -> None:
    with FakeMeter(demo_status=503) as fake, gateway(fake.url) as client:
        reply = client.get("/api/v1/meter/demo")
    assert reply.status_code == 503
    assert reply.json()["error"]["code"] == "not_ready"
    assert reply.headers["retry-after"] == "2"
    assert "content-disposition" not in reply.headers


def test_demo_without_a_meter_task_is_404() -> None:
    with gateway("") as client:
        reply = client.get("/api/v1/meter/demo")
        recognize = client.post("/api/v1/meter/recognize", files={"file": ("m.png", photo())})
    assert reply.status_code == 404 and reply.json()["error"]["code"] == "unknown_task"
    assert recognize.status_code == 404 and recognize.json()["error"]["code"] == "unknown_task"


def test_meter_options_reach_the_service_from_form_query_and_json(meter: FakeMeter) -> None:
    image = photo()
    with gateway(meter.url) as client:
        form = client.post(
            "/api/v1/meter/recognize?wheels=6",
            files={"file": ("m.png", image)},
            data={"mode": "window", "previous_value": "12.0", "colour": "red"},
        )
        posted = client.post(
            "/api/v1/meter/recognize",
            json={
                "image_base64": base64.b64encode(image).decode(),
                "mode": "photo",
                "max_rate": 0.5,
                "previous_time": "2026-03-01T08:00:00Z",
            },
        )
    assert form.status_code == 200, form.text
    assert form.json()["result"]["params"] == {
        "model": "default",
        "wheels": "6",
        "mode": "window",
        "previous_value": "12.0",
    }, "known options only: `colour` is not the meter's"
    assert posted.status_code == 200, posted.text
    assert posted.json()["result"]["params"] == {
        "model": "default",
        "mode": "photo",
        "max_rate": "0.5",
        "previous_time": "2026-03-01T08:00:00Z",
    }


def test_openapi_documents_the_meter_options_and_the_demo(meter: FakeMeter) -> None:
    with gateway(meter.url) as client:
        schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/api/v1/{task}/recognize"]["post"]
    query = {parameter["name"]: parameter for parameter in operation["parameters"]}
    assert set(OPTIONS) <= set(query)
    assert all(not query[name]["required"] and "meter" in query[name]["description"] for name in OPTIONS)
    assert query["mode"]["schema"]["enum"] == ["auto", "photo", "window"]
    for content in ("multipart/form-data", "application/json"):
        properties = operation["requestBody"]["content"][content]["schema"]["properties"]
        assert set(OPTIONS) <= set(properties), content
    demo = schema["paths"]["/api/v1/meter/demo"]["get"]
    assert "application/zip" in demo["responses"]["200"]["content"]
    assert {"404", "503"} <= set(demo["responses"])
