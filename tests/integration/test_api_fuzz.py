"""Property-based fuzzing of the HTTP API from its OpenAPI document (schemathesis + Hypothesis).

The gateway's document is the app's own, built in-process when the tests are collected (no server
is needed for that; `test_the_gateway_serves_this_document` checks the running gateway serves the
same). Schemathesis generates requests from it, schema-valid and schema-violating, and sends them
to the real gateway of the session fixtures (Redis, digit and captcha services behind it). Every
answer must be no 5xx and conform to the document: a documented status, content type, headers
and body schema; schema-violating requests must be refused and schema-valid ones accepted.

One allowance, for the operations that take images: a schema can say "a string in base64" or "a
binary file", not "a decodable PNG with a digit in it", so a schema-valid upload may still be
refused for its content with 413, 415 or 422, each documented; so may a correction's label, which
a schema cannot check against the model's characters (422 invalid_label). A 400 for schema-valid
data still fails: that would be a request the document promises to take.

The recognizer services are fuzzed too, each through its own document. Those are internal (the
gateway is their only client) and document no error responses, so there only "no 5xx" is checked;
their image endpoints get the gateway's request-body description (the same intake code reads
both), so that the fuzzer sends images there rather than nothing.

Bounded: MAX_EXAMPLES per operation and phase (`FUZZ_MAX_EXAMPLES` overrides it), a fixed seed
(`FUZZ_SEED` overrides it) so that a run is repeatable, no Hypothesis database.
"""

from __future__ import annotations

import copy
import importlib
import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from gateway.main import app as gateway_app
from tests.support.processes import SERVICES

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "60"))
SEED = int(os.environ.get("FUZZ_SEED", "20261121"))
IMAGE_PATHS = r"/recognize(-batch)?$|^/b$|/feedback$"
# Schemathesis' defaults, plus for schema-valid requests refusals of the image content itself,
# and for schema-violating ones 413: a body over a documented size (more than 64 batch images).
ACCEPTED_OR_IMAGE_REFUSED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx", "413", "415", "422"]
REFUSED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]

FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,  # real processes on a shared machine: timing is not the property under test
    database=None,  # nothing written to .hypothesis/
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)


def _config() -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": MAX_EXAMPLES},
            "operations": [
                {
                    "include-path-regex": IMAGE_PATHS,
                    "checks": {
                        "positive_data_acceptance": {"expected-statuses": ACCEPTED_OR_IMAGE_REFUSED},
                        "negative_data_rejection": {"expected-statuses": REFUSED},
                    },
                },
                # Operator endpoint: it reloads models (not for clients, not behind the gateway);
                # reloading the session's shared services mid-run is not what this test is for.
                {"include-path": "/v1/admin/reload", "enabled": False},
            ],
        }
    )


GATEWAY_DOCUMENT = gateway_app.openapi()


def _without_meter_options(document: dict[str, Any]) -> dict[str, Any]:
    """The document without the meter's options.

    They are documented on the shared `/api/v1/{task}/recognize` with the meter's constraints
    (`wheels` 4 to 8, ...), and every other task ignores them unchecked, so a digit or captcha
    request with `wheels=3` is (rightly) answered: one operation for every task cannot say
    "checked for the meter only". The meter service's own fuzzing and tests/meter_service cover
    how the meter checks them.
    """
    document = copy.deepcopy(document)
    operation = document["paths"]["/api/v1/{task}/recognize"]["post"]
    meter_only = {
        parameter["name"]
        for parameter in operation["parameters"]
        if parameter.get("description", "").startswith("meter only")
    }
    operation["parameters"] = [p for p in operation["parameters"] if p["name"] not in meter_only]
    for content in operation["requestBody"]["content"].values():
        for name in meter_only:
            content["schema"]["properties"].pop(name, None)
    return document


FUZZED_DOCUMENT = _without_meter_options(GATEWAY_DOCUMENT)
gateway_schema = schemathesis.openapi.from_dict(copy.deepcopy(FUZZED_DOCUMENT), config=_config())


def filter_case(context: schemathesis.HookContext, case: schemathesis.Case) -> bool:
    """Drop form "violations" that cannot exist on the wire, where every field is text.

    A value given as an object, a boolean, null or (for a text field) a number is sent as its text,
    which the field takes; a list of none or one value is sent as no field or one field. (A list of
    two or more is a repeated field, which the services refuse: that one is kept.)
    """
    if case.media_type != "multipart/form-data" or not isinstance(case.body, dict):
        return True
    form = case.operation.get_body_for_media_type("multipart/form-data").definition["schema"]
    declared = form.get("properties", {})
    for name, value in case.body.items():
        kind = declared.get(name, {}).get("type", "string")
        if kind == "array" or isinstance(value, str | bytes):
            continue
        if isinstance(value, list):
            if len(value) <= 1:
                return False
        elif isinstance(value, bool) or not isinstance(value, int | float) or kind == "string":
            return False
    return True


gateway_schema.hook(filter_case)


@gateway_schema.hook
def map_body(context: schemathesis.HookContext, body: Any) -> Any:
    """Keep the test off the network: an http(s) `image_url` is sent with its host swapped for
    one under `.invalid` (RFC 2606: never resolves), so the gateway answers 422 url_unreachable
    without fetching anything; other URLs go as generated, to be refused as they are."""
    if isinstance(body, dict) and isinstance(body.get("image_url"), str):
        parts = urlsplit(body["image_url"])
        if parts.scheme.lower() in ("http", "https") and parts.netloc:
            body = {**body, "image_url": urlunsplit(parts._replace(netloc="fuzz.invalid"))}
    return body


def _image_body_without_url() -> dict[str, Any]:
    """The gateway's recognize body, without `image_url` (only the gateway fetches)."""
    body = copy.deepcopy(FUZZED_DOCUMENT["paths"]["/api/v1/{task}/recognize"]["post"]["requestBody"])
    json_schema = body["content"]["application/json"]["schema"]
    json_schema["properties"].pop("image_url", None)
    json_schema.pop("oneOf", None)
    json_schema["required"] = ["image_base64"]
    return body


def _service_document(task: str) -> dict[str, Any]:
    document = copy.deepcopy(importlib.import_module(f"{task}_service.main").app.openapi())
    body = _image_body_without_url()
    document["paths"]["/v1/recognize"]["post"]["requestBody"] = body
    if "/b" in document["paths"]:  # captcha: the seed project's field name
        seed_body = copy.deepcopy(body)
        form = seed_body["content"]["multipart/form-data"]["schema"]
        form["properties"]["image_file"] = form["properties"].pop("file")
        form["required"] = ["image_file"]
        document["paths"]["/b"]["post"]["requestBody"] = seed_body
    if "/v1/recognize-batch" in document["paths"]:
        batch = FUZZED_DOCUMENT["paths"]["/api/v1/captcha/recognize-batch"]["post"]["requestBody"]
        document["paths"]["/v1/recognize-batch"]["post"]["requestBody"] = copy.deepcopy(batch)
    return document


service_schemas = {
    task: schemathesis.openapi.from_dict(_service_document(task), config=_config()) for task in SERVICES
}
for _schema in service_schemas.values():
    _schema.hook(filter_case)


def test_the_gateway_serves_this_document(gateway) -> None:
    assert httpx.get(gateway.url + "/openapi.json", timeout=30).json() == GATEWAY_DOCUMENT


@gateway_schema.parametrize()
@FUZZ_SETTINGS
def test_gateway_api(case: schemathesis.Case, gateway) -> None:
    case.call_and_validate(base_url=gateway.url, timeout=30)


def _service_test(task: str):
    @service_schemas[task].parametrize()
    @FUZZ_SETTINGS
    def test(case: schemathesis.Case, request: pytest.FixtureRequest) -> None:
        backend = request.getfixturevalue(f"{task}_backend")
        case.call_and_validate(base_url=backend.url, timeout=30, checks=[not_a_server_error])

    return test


for _task in SERVICES:
    globals()[f"test_{_task}_service_api"] = _service_test(_task)
