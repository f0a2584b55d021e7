"""Property-based fuzzing of the HTTP API from its OpenAPI document (schemathesis + Hypothesis).

The gateway's document is the one the running gateway serves: its generic operations (the app's
own, built in-process) completed from the backends' catalogues (their options and extra routes);
`test_the_gateway_serves_the_generic_document_completed` checks the generic part is the app's.
Schemathesis generates requests from it, schema-valid and schema-violating, and sends them
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


# The generic part of the gateway's document, built in-process: what the services' image endpoints
# are fuzzed with. The gateway serves it completed from its backends' catalogues (gateway.openapi),
# so the document the gateway is fuzzed with is the one the running gateway serves.
BASE_DOCUMENT = gateway_app.openapi()
RECOGNIZE = "/api/v1/{task}/recognize"


def _without_task_options(document: dict[str, Any]) -> dict[str, Any]:
    """The document without the tasks' options.

    They are documented on the shared `/api/v1/{task}/recognize` with their task's constraints
    (`wheels` 4 to 8, ...), and every other task ignores them unchecked, so a request for another
    task with `wheels=3` is (rightly) answered: one operation for every task cannot say "checked
    for that task only". Each service's own fuzzing and tests cover how it checks them.
    """
    document = copy.deepcopy(document)
    operation = document["paths"][RECOGNIZE]["post"]
    options = {p["name"] for p in operation["parameters"] if p["name"] not in ("task", "model")}
    operation["parameters"] = [p for p in operation["parameters"] if p["name"] not in options]
    for content in operation["requestBody"]["content"].values():
        for name in options:
            content["schema"]["properties"].pop(name, None)
    return document


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
    body = copy.deepcopy(_without_task_options(BASE_DOCUMENT)["paths"][RECOGNIZE]["post"]["requestBody"])
    json_schema = body["content"]["application/json"]["schema"]
    json_schema["properties"].pop("image_url", None)
    json_schema.pop("oneOf", None)
    json_schema["required"] = ["image_base64"]
    return body


def _service_document(task: str, catalogue: dict[str, Any]) -> dict[str, Any]:
    """The service's own document, its image endpoints with the gateway's request body, and the
    routes its catalogue declares with the request bodies declared there."""
    document = copy.deepcopy(importlib.import_module(f"{task}_service.main").app.openapi())
    body = _image_body_without_url()
    document["paths"]["/v1/recognize"]["post"]["requestBody"] = body
    if "/b" in document["paths"]:  # captcha: the seed project's field name
        seed_body = copy.deepcopy(body)
        form = seed_body["content"]["multipart/form-data"]["schema"]
        form["properties"]["image_file"] = form["properties"].pop("file")
        form["required"] = ["image_file"]
        document["paths"]["/b"]["post"]["requestBody"] = seed_body
    for route in catalogue.get("routes") or ():
        operation = document["paths"].get(route["path"], {}).get(route["method"].lower())
        if operation is not None and route.get("request_body"):
            operation["requestBody"] = copy.deepcopy(route["request_body"])
    return document


@pytest.fixture(autouse=True)
def _node_id_for_lazy_schemas(request: pytest.FixtureRequest) -> None:
    """Schemathesis' lazy schemas (`from_fixture`, needed here: the documents exist only once the
    services run) read `node._nodeid`, which pytest 9 no longer has under that name."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@pytest.fixture(scope="session")
def gateway_document(gateway) -> dict[str, Any]:
    """The document the running gateway serves (its backends' catalogues included)."""
    return httpx.get(gateway.url + "/openapi.json", timeout=30).json()


@pytest.fixture(scope="session")
def gateway_schema(gateway_document: dict[str, Any]) -> Any:
    schema = schemathesis.openapi.from_dict(_without_task_options(gateway_document), config=_config())
    schema.hook(filter_case)
    schema.hook(map_body)
    return schema


def test_the_gateway_serves_the_generic_document_completed(gateway_document: dict[str, Any]) -> None:
    """The served document is the in-process one plus what the catalogues add: every generic
    operation is there unchanged but for the task enum and the tasks' fields."""
    served = _without_task_options(gateway_document)
    for path, operations in BASE_DOCUMENT["paths"].items():
        for method, operation in operations.items():
            assert set(served["paths"][path][method]) == set(operation), (path, method)
            assert served["paths"][path][method]["responses"] == operation["responses"], (path, method)
    tasks = {p["name"]: p for p in served["paths"][RECOGNIZE]["post"]["parameters"]}["task"]
    assert set(tasks["schema"]["enum"]) == set(SERVICES)
    assert served["components"]["schemas"] == BASE_DOCUMENT["components"]["schemas"]


@schemathesis.pytest.from_fixture("gateway_schema").parametrize()
@FUZZ_SETTINGS
def test_gateway_api(case: schemathesis.Case, gateway) -> None:
    case.call_and_validate(base_url=gateway.url, timeout=30)


def _service_schema_fixture(task: str):
    @pytest.fixture(scope="session", name=f"{task}_service_schema")
    def fixture(request: pytest.FixtureRequest) -> Any:
        backend = request.getfixturevalue(f"{task}_backend")
        catalogue = httpx.get(backend.url + "/v1/models", timeout=30).json()
        schema = schemathesis.openapi.from_dict(_service_document(task, catalogue), config=_config())
        schema.hook(filter_case)
        return schema

    return fixture


def _service_test(task: str):
    @schemathesis.pytest.from_fixture(f"{task}_service_schema").parametrize()
    @FUZZ_SETTINGS
    def test(case: schemathesis.Case, request: pytest.FixtureRequest) -> None:
        backend = request.getfixturevalue(f"{task}_backend")
        case.call_and_validate(base_url=backend.url, timeout=30, checks=[not_a_server_error])

    return test


for _task in SERVICES:
    globals()[f"{_task}_service_schema"] = _service_schema_fixture(_task)
    globals()[f"test_{_task}_service_api"] = _service_test(_task)
