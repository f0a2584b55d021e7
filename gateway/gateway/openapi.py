"""The OpenAPI document (`/openapi.json`, read by /docs and /redoc), completed from the catalogues.

The gateway's own routes are generic (`/api/v1/{task}/recognize`, ...), so FastAPI's document says
nothing about any task. What a task adds is in its service's catalogue, and is put into the
document each time it is asked for (through the catalogue cache, so at most one `GET /v1/models`
per backend and `catalogue_ttl_s`):

* the `{task}` path parameter's `enum`: the configured tasks;
* on `POST /api/v1/{task}/recognize`, each task's options (query parameters and body fields)
  with the JSON schemas its catalogue gives, described as that task's only;
* on `POST /api/v1/{task}/feedback`, the length field of each task's `LabelRule`;
* each route a catalogue declares, as its own path `/api/v1/<task>/<name>`.

A backend that cannot be reached in time contributes only its name. `app.openapi()` (no server
needed) gives the same document from the catalogues already cached, none before start-up.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from gateway.backends import Backend
from gateway.catalogue import Catalogue, ExtraRoute
from gateway.config import GatewaySettings, LabelRule
from recognition_common.edge.errors import ApiError
from recognition_common.edge.intake import MAX_OPTION_LENGTH

OPENAPI_PATH = "/openapi.json"
CATALOGUE_WAIT_S = 2.0  # the most a document waits for a backend's catalogue
RECOGNIZE = ("/api/v1/{task}/recognize", "post")
FEEDBACK = ("/api/v1/{task}/feedback", "post")
ROUTE_ERRORS = (401, 404, 429, 502, 503, 504)  # every extra route's own errors
BODY_ERRORS = (400, 413)  # and, with a body, these

Catalogues = Mapping[str, Catalogue | None]


def install_openapi(app: FastAPI, settings: GatewaySettings) -> None:
    """Serve the completed document at /openapi.json (`app` made with openapi_url=None), and make
    `app.openapi()` return it from the catalogues cached so far."""

    def cached_document() -> dict[str, Any]:
        state = getattr(app.state, "gateway", None)
        backends: dict[str, Backend] = state.backends if state is not None else {}
        cached = {task: backend.cached_catalogue() for task, backend in backends.items()}
        return build_document(FastAPI.openapi(app), list(settings.backends), cached, settings.label_rules)

    app.openapi = cached_document  # type: ignore[method-assign]

    @app.get(OPENAPI_PATH, include_in_schema=False)
    async def openapi_json(request: Request) -> JSONResponse:
        backends: dict[str, Backend] = request.app.state.gateway.backends
        tasks = list(backends)
        found = await asyncio.gather(*(_catalogue(backends[task]) for task in tasks))
        catalogues = dict(zip(tasks, found, strict=True))
        return JSONResponse(
            build_document(FastAPI.openapi(app), list(settings.backends), catalogues, settings.label_rules)
        )


async def _catalogue(backend: Backend) -> Catalogue | None:
    try:
        return await backend.catalogue(deadline=time.monotonic() + min(CATALOGUE_WAIT_S, backend.timeout_s))
    except ApiError:
        return None


def build_document(
    base: dict[str, Any], tasks: list[str], catalogues: Catalogues, label_rules: Mapping[str, LabelRule]
) -> dict[str, Any]:
    """`base` (FastAPI's document of the generic routes, not changed) completed for `tasks`."""
    document = copy.deepcopy(base)
    paths: dict[str, Any] = document.setdefault("paths", {})
    _set_task_enum(paths, tasks)
    served = {task: catalogue for task, catalogue in catalogues.items() if task in tasks and catalogue}
    recognize = paths.get(RECOGNIZE[0], {}).get(RECOGNIZE[1])
    if recognize is not None:
        _add_fields(recognize, _option_fields(served), query=True)
        errors = recognize.get("responses", {})
        for task, catalogue in served.items():
            for route in catalogue.routes.values():
                operation = _route_operation(task, route, errors)
                paths.setdefault(f"/api/v1/{task}/{route.name}", {})[route.method.lower()] = operation
    feedback = paths.get(FEEDBACK[0], {}).get(FEEDBACK[1])
    if feedback is not None:
        _add_fields(feedback, _length_fields(tasks, label_rules), query=False)
    return document


def _set_task_enum(paths: dict[str, Any], tasks: list[str]) -> None:
    for operations in paths.values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == "task" and parameter.get("in") == "path":
                    parameter["schema"] = {**parameter.get("schema", {}), "enum": list(tasks)}


def _only(tasks: list[str], description: str) -> str:
    """A field's description, saying which tasks read it (the others ignore it)."""
    prefix = f"{', '.join(tasks)} only"
    return f"{prefix}: {description}" if description else prefix


def _option_fields(catalogues: Mapping[str, Catalogue]) -> dict[str, dict[str, Any]]:
    """Each option of any task, name -> schema with its description; an option two tasks share
    with different schemas takes either (`anyOf`)."""
    declared: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for task, catalogue in catalogues.items():
        for name in catalogue.options:
            declared.setdefault(name, []).append((task, catalogue.option_schemas.get(name, {})))
    fields: dict[str, dict[str, Any]] = {}
    for name, entries in declared.items():
        shapes: list[dict[str, Any]] = []
        for _, schema in entries:
            shape = {key: value for key, value in schema.items() if key != "description"}
            if shape not in shapes:
                shapes.append(shape)
        descriptions = [schema.get("description", "") for _, schema in entries if schema.get("description")]
        merged = shapes[0] if len(shapes) == 1 else {"anyOf": shapes}
        tasks = [task for task, _ in entries]
        fields[name] = {**merged, "description": _only(tasks, " / ".join(dict.fromkeys(descriptions)))}
    return fields


def _length_fields(tasks: list[str], label_rules: Mapping[str, LabelRule]) -> dict[str, dict[str, Any]]:
    """The fields in which a correction's sender states its label's length, per configured task."""
    by_field: dict[str, list[str]] = {}
    for task in tasks:
        rule = label_rules.get(task)
        if rule is not None and rule.length_field:
            by_field.setdefault(rule.length_field, []).append(task)
    return {
        name: {
            "type": "string",
            "maxLength": MAX_OPTION_LENGTH,
            "description": _only(owners, "how many characters the label has (or auto); must match it"),
        }
        for name, owners in by_field.items()
    }


def _add_fields(operation: dict[str, Any], fields: dict[str, dict[str, Any]], *, query: bool) -> None:
    """`fields` as properties of each body schema and, with `query`, as query parameters."""
    if not fields:
        return
    if query:
        parameters = operation.setdefault("parameters", [])
        taken = {parameter["name"] for parameter in parameters}
        parameters.extend(
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": {key: value for key, value in schema.items() if key != "description"},
                "description": schema["description"],
            }
            for name, schema in fields.items()
            if name not in taken
        )
    for content in operation.get("requestBody", {}).get("content", {}).values():
        properties = content.get("schema", {}).setdefault("properties", {})
        for name, schema in fields.items():
            properties.setdefault(name, copy.deepcopy(schema))


def _route_operation(task: str, route: ExtraRoute, errors: dict[str, Any]) -> dict[str, Any]:
    """A declared route's operation: what the catalogue says, plus the gateway's own errors."""
    operation: dict[str, Any] = {
        "tags": [task],
        "summary": route.summary or f"{route.name} ({task})",
        "operationId": f"{task}_{route.name}_{route.method.lower()}".replace("-", "_").replace(".", "_"),
    }
    if route.description:
        operation["description"] = route.description
    if route.parameters:
        operation["parameters"] = copy.deepcopy(route.parameters)
    if route.request_body:
        operation["requestBody"] = copy.deepcopy(route.request_body)
    responses = {str(status): copy.deepcopy(answer) for status, answer in route.responses.items()}
    responses.setdefault("200", {"description": "The service's answer"})
    statuses = ROUTE_ERRORS + (BODY_ERRORS if route.request_body else ())
    for status in sorted(statuses):
        if str(status) in errors:
            responses.setdefault(str(status), copy.deepcopy(errors[str(status)]))
    operation["responses"] = dict(sorted(responses.items()))
    return operation
