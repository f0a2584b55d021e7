"""Each task's `SPEC` and the catalogue fields it publishes (`GET /v1/models`: `options`,
`options_schema`, `routes`), read from a service that has not loaded its models."""

from __future__ import annotations

from typing import Any

import pytest

from captcha_service.spec import SPEC as CAPTCHA
from digit_service.spec import SPEC as DIGIT
from meter_service.spec import SPEC as METER
from recognition_common.serving.service import RecognitionService
from recognition_common.serving.spec import Execution, TaskSpec

ROUTE_FIELDS = {
    "name",
    "method",
    "path",
    "summary",
    "description",
    "passed_headers",
    "download_filename",
    "parameters",
    "request_body",
    "responses",
}


def catalogue(spec: TaskSpec[Any]) -> dict[str, Any]:
    service = RecognitionService(spec, spec.settings(preprocess_processes=0))
    try:
        return service.catalogue()
    finally:
        service.strategy.close()


@pytest.mark.parametrize("spec", [DIGIT, CAPTCHA, METER], ids=lambda spec: spec.name)
def test_every_catalogue_has_the_contracts_fields(spec: TaskSpec[Any]) -> None:
    listing = catalogue(spec)
    assert listing["task"] == spec.name and listing["ready"] is False
    assert set(listing) >= {"default_model", "preprocess_version", "device", "max_batch", "models"}
    assert listing["options"] == list(listing["options_schema"]["properties"])
    for route in listing["routes"]:
        assert set(route) == ROUTE_FIELDS
        assert route["method"] in ("GET", "POST") and route["path"].startswith("/")
        assert all(header == header.lower() for header in route["passed_headers"])
        assert all(isinstance(status, str) for status in route["responses"])


def test_digit_has_no_options_and_no_routes() -> None:
    listing = catalogue(DIGIT)
    assert DIGIT.execution is Execution.PLAIN
    assert listing["options"] == [] and listing["options_schema"] == {"type": "object", "properties": {}}
    assert listing["routes"] == []


def test_captcha_routes() -> None:
    routes = {route["name"]: route for route in catalogue(CAPTCHA)["routes"]}
    assert set(routes) == {"sample", "recognize-batch"}
    sample, batch = routes["sample"], routes["recognize-batch"]
    assert (sample["method"], sample["path"], sample["download_filename"]) == ("GET", "/v1/sample", None)
    assert sample["passed_headers"] == [
        "content-type",
        "x-captcha-text",
        "x-captcha-model",
        "cache-control",
        "retry-after",
    ]
    assert [parameter["name"] for parameter in sample["parameters"]] == ["model"]
    assert "image/png" in sample["responses"]["200"]["content"]
    assert (batch["method"], batch["path"]) == ("POST", "/v1/recognize-batch")
    assert set(batch["request_body"]["content"]) == {"multipart/form-data", "application/json"}
    assert set(batch["responses"]) == {"200", "400", "401", "404", "413", "429", "502", "503", "504"}


def test_meter_options_and_demo_route() -> None:
    listing = catalogue(METER)
    assert METER.execution is Execution.STAGED
    assert set(listing["options"]) == {
        "mode",
        "wheels",
        "previous_value",
        "previous_time",
        "max_rate",
        "time",
    }
    (demo,) = listing["routes"]
    assert (demo["name"], demo["method"], demo["path"]) == ("demo", "GET", "/v1/demo")
    assert demo["download_filename"] == "meter-demo.zip"
    assert demo["passed_headers"] == [
        "content-type",
        "content-disposition",
        "cache-control",
        "etag",
        "retry-after",
    ]
    assert demo["request_body"] is None and demo["parameters"] == []
