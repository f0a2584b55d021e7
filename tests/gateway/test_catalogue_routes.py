"""A task the gateway has never heard of is served from its catalogue alone.

The gateway runs in-process (TestClient) in front of a stand-in "gauge" service: a tiny real HTTP
server on 127.0.0.1 whose catalogue declares one option (`unit`, with a pydantic JSON schema) and
two extra routes (`GET sample`, `POST batch`). Nothing in the gateway knows the name "gauge":
it is exposed, documented in /openapi.json, forwarded and cached because the catalogue says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import BaseModel, Field, ValidationError

from gateway.config import GatewaySettings
from gateway.main import create_app
from tests.support.fake_backend import FakeBackend
from tests.support.images import encode
from tests.support.processes import free_port


class GaugeOptions(BaseModel):
    unit: Literal["bar", "psi"] = Field("bar", description="the unit the dial is printed in")


SAMPLE_ROUTE = {
    "name": "sample",
    "method": "GET",
    "path": "/v1/sample",
    "summary": "A gauge picture to try with",
    "description": "Rendered on demand; its reading in X-Gauge-Text.",
    "passed_headers": ["x-gauge-text"],
    "download_filename": "gauge.png",
    "parameters": [{"name": "model", "in": "query", "required": False, "schema": {"type": "string"}}],
    "request_body": None,
    "responses": {"200": {"description": "A picture", "content": {"image/png": {}}}},
}
BATCH_ROUTE = {
    "name": "batch",
    "method": "POST",
    "path": "/v1/batch",
    "summary": "Several gauges at once",
    "passed_headers": [],
    "download_filename": None,
    "parameters": [],
    "request_body": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
    "responses": {"200": {"description": "One result per image"}},
}


def picture() -> bytes:
    return encode(Image.new("RGB", (40, 40), (90, 90, 90)), "PNG")


class FakeGauge(FakeBackend):
    """Answers /v1/models, /v1/recognize (echoing its parameters), /v1/sample and /v1/batch, and
    records every call that reached it."""

    def __init__(self, *, with_schema: bool = True) -> None:
        super().__init__()
        self.with_schema = with_schema
        self.calls: list[dict[str, object]] = []

    def catalogue(self) -> dict[str, object]:
        card = {"name": "dial", "version": "1.0.0", "task": "gauge"}
        raw: dict[str, object] = {
            "task": "gauge",
            "ready": True,
            "default_model": "dial",
            "preprocess_version": "1",
            "models": [card],
            "options": ["unit"],
            "device": "cpu",
            "max_batch": 8,
        }
        if self.with_schema:
            raw["options_schema"] = GaugeOptions.model_json_schema()
            raw["routes"] = [SAMPLE_ROUTE, BATCH_ROUTE]
        return raw

    def handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        parts = urlsplit(handler.path)
        params = dict(parse_qsl(parts.query))
        headers = {name.lower(): value for name, value in handler.headers.items()}
        if parts.path != "/v1/models":
            self.calls.append(
                {
                    "method": handler.command,
                    "path": parts.path,
                    "params": params,
                    "body": body,
                    "headers": headers,
                }
            )
        if parts.path == "/v1/models":
            self.send_json(handler, 200, self.catalogue())
        elif parts.path == "/v1/recognize":
            result = {"text": "1.5", "confidence": 0.9, "rejected": False, "params": params}
            answer = {
                "model": {"name": "dial", "version": "1.0.0"},
                "preprocess_version": "1",
                "result": result,
            }
            self.send_json(handler, 200, answer)
        elif parts.path == "/v1/sample":
            self.send(
                handler,
                200,
                b"\x89PNG fake",
                {"Content-Type": "image/png", "X-Gauge-Text": "2.5", "X-Secret": "no"},
            )
        elif parts.path == "/v1/batch":
            echo = {"got": json.loads(body), "content_type": headers.get("content-type")}
            self.send_json(handler, 200, echo)
        else:
            error = {"error": {"code": "not_found", "message": parts.path}}
            self.send_json(handler, 404, error)


def gateway(url: str, **settings: object) -> TestClient:
    return TestClient(create_app(GatewaySettings(backends={"gauge": url}, redis_url=None, **settings)))


@pytest.fixture
def gauge() -> Iterator[FakeGauge]:
    with FakeGauge() as fake:
        yield fake


def test_backends_come_from_one_json_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_BACKENDS", '{"gauge": "http://gauge:8000/", "off": ""}')
    assert GatewaySettings().backends == {"gauge": "http://gauge:8000"}
    monkeypatch.setenv("GATEWAY_BACKENDS", '{"../etc": "http://x"}')
    with pytest.raises(ValidationError):
        GatewaySettings()


def test_openapi_documents_the_task_its_option_and_its_routes(gauge: FakeGauge) -> None:
    with gateway(gauge.url) as client:
        document = client.get("/openapi.json").json()
    recognize = document["paths"]["/api/v1/{task}/recognize"]["post"]
    query = {parameter["name"]: parameter for parameter in recognize["parameters"]}
    assert query["task"]["schema"]["enum"] == ["gauge"]
    assert query["unit"]["schema"]["enum"] == ["bar", "psi"]
    assert query["unit"]["description"].startswith("gauge only: the unit")
    for content in recognize["requestBody"]["content"].values():
        assert content["schema"]["properties"]["unit"]["default"] == "bar"
    sample = document["paths"]["/api/v1/gauge/sample"]["get"]
    assert sample["summary"] == "A gauge picture to try with"
    assert "image/png" in sample["responses"]["200"]["content"]
    assert {"401", "404", "503"} <= set(sample["responses"])
    error = sample["responses"]["503"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ErrorResponse"}
    batch = document["paths"]["/api/v1/gauge/batch"]["post"]
    assert batch["requestBody"] == BATCH_ROUTE["request_body"]
    assert {"400", "413"} <= set(batch["responses"])
    assert "/api/v1/{task}/{name}" not in document["paths"]


def test_a_down_backend_leaves_only_its_name_in_the_document() -> None:
    with gateway(f"http://127.0.0.1:{free_port()}") as client:
        document = client.get("/openapi.json").json()
        sample = client.get("/api/v1/gauge/sample")
    query = {p["name"]: p for p in document["paths"]["/api/v1/{task}/recognize"]["post"]["parameters"]}
    assert query["task"]["schema"]["enum"] == ["gauge"] and "unit" not in query
    assert not [path for path in document["paths"] if path.startswith("/api/v1/gauge/")]
    assert sample.status_code == 503 and sample.json()["error"]["code"] == "backend_unavailable"


def test_a_declared_get_route_is_forwarded_with_its_headers(gauge: FakeGauge) -> None:
    with gateway(gauge.url) as client:
        reply = client.get("/api/v1/gauge/sample?model=dial", headers={"X-Request-ID": "s-1"})
    assert reply.status_code == 200 and reply.content == b"\x89PNG fake"
    assert reply.headers["content-type"] == "image/png"
    assert reply.headers["x-gauge-text"] == "2.5" and "x-secret" not in reply.headers
    assert reply.headers["content-disposition"] == 'attachment; filename="gauge.png"'
    assert reply.headers["x-request-id"] == "s-1"
    (call,) = gauge.calls
    assert call["method"] == "GET" and call["path"] == "/v1/sample" and call["params"] == {"model": "dial"}
    assert call["headers"]["x-request-id"] == "s-1"  # type: ignore[index]


def test_a_declared_post_route_is_forwarded_with_its_body(gauge: FakeGauge) -> None:
    with gateway(gauge.url) as client:
        reply = client.post("/api/v1/gauge/batch?model=dial", json={"images_base64": ["AAAA"]})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"got": {"images_base64": ["AAAA"]}, "content_type": "application/json"}
    assert gauge.calls[0]["params"] == {"model": "dial"}


def test_undeclared_routes_wrong_methods_and_unknown_tasks(gauge: FakeGauge) -> None:
    with gateway(gauge.url) as client:
        undeclared = client.get("/api/v1/gauge/demo")
        wrong = client.post("/api/v1/gauge/sample", content=b"x")
        unknown = client.get("/api/v1/dial/sample")
        own = client.get("/api/v1/gauge/recognize")
    assert undeclared.status_code == 404 and undeclared.json()["error"]["code"] == "not_found"
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET"
    assert wrong.json()["error"]["code"] == "method_not_allowed"
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_task"
    assert own.status_code == 405 and own.headers["allow"] == "POST"  # the gateway's own route
    assert gauge.calls == []


def test_access_rules_and_the_size_limit_apply_to_extra_routes(gauge: FakeGauge) -> None:
    with gateway(gauge.url, api_keys="k1", max_upload_bytes=1000) as client:
        anonymous = client.get("/api/v1/gauge/sample")
        allowed = client.get("/api/v1/gauge/sample", headers={"X-API-Key": "k1"})
        too_big = client.post(
            "/api/v1/gauge/batch", content=b"{" + b" " * 100_000 + b"}", headers={"X-API-Key": "k1"}
        )
    assert anonymous.status_code == 401
    assert allowed.status_code == 200
    assert too_big.status_code == 413
    assert len(gauge.calls) == 1


def test_the_option_is_forwarded_and_splits_the_cache(gauge: FakeGauge) -> None:
    image = picture()
    with gateway(gauge.url) as client:

        def ask(query: str) -> tuple[str, dict[str, str]]:
            reply = client.post(f"/api/v1/gauge/recognize{query}", files={"file": ("g.png", image)})
            assert reply.status_code == 200, reply.text
            return reply.headers["x-cache"], reply.json()["result"]["params"]

        first = ask("?unit=psi&colour=red")
        again = ask("?unit=psi")
        other = ask("?unit=bar")
    assert first == ("MISS", {"model": "dial", "unit": "psi"}), "undeclared `colour` is not forwarded"
    assert again[0] == "HIT"
    assert other == ("MISS", {"model": "dial", "unit": "bar"})


def test_a_catalogue_without_schema_or_routes_still_works() -> None:
    with FakeGauge(with_schema=False) as fake, gateway(fake.url) as client:
        document = client.get("/openapi.json").json()
        sample = client.get("/api/v1/gauge/sample")
        reply = client.post("/api/v1/gauge/recognize?unit=psi", files={"file": ("g.png", picture())})
    query = {p["name"]: p for p in document["paths"]["/api/v1/{task}/recognize"]["post"]["parameters"]}
    assert query["unit"]["schema"] == {"type": "string"}
    assert sample.status_code == 404
    assert reply.json()["result"]["params"] == {"model": "dial", "unit": "psi"}
