"""A recognizer's catalogue (`GET /v1/models`), read into what the gateway needs from it.

The catalogue is the only place the gateway learns about a task: its models and their cards (for
the cache key), the options its recognizer reads (which request parameters are forwarded and
become part of the cache key) with their JSON schemas (for the OpenAPI document), and the extra
routes it wants exposed under `/api/v1/{task}/{name}` (forwarded as they are).

`options_schema` is a pydantic `model_json_schema()`: its `properties` name the options, and
`$defs` references are inlined here so that every option's schema stands alone. A catalogue
without `options_schema` (an older service) still names its options in `options`: each is then
documented as a plain string. A catalogue without `routes` declares none.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("gateway.catalogue")

ROUTE_METHODS = ("GET", "POST")
PLAIN_OPTION: dict[str, Any] = {"type": "string"}


@dataclass(frozen=True)
class ExtraRoute:
    """One declared route: `{method} /api/v1/{task}/{name}` forwarded to the service's `path`."""

    name: str
    method: str
    path: str
    summary: str = ""
    description: str = ""
    passed_headers: frozenset[str] = frozenset({"content-type"})
    download_filename: str | None = None
    parameters: list[dict[str, Any]] = field(default_factory=list)
    request_body: dict[str, Any] | None = None
    responses: dict[str, Any] = field(default_factory=dict)


@dataclass
class Catalogue:
    default_model: str
    preprocess_version: str
    models: dict[str, dict[str, Any]]  # name -> card
    options: tuple[str, ...]  # request parameters the recognizer reads besides image and model
    raw: dict[str, Any] = field(repr=False)
    fetched_at: float = 0.0
    option_schemas: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> JSON schema
    routes: dict[str, ExtraRoute] = field(default_factory=dict)  # name -> route


def parse_catalogue(raw: dict[str, Any], fetched_at: float) -> Catalogue:
    """The catalogue of a ready service (the caller checked `ready` and `default_model`)."""
    schemas = option_schemas(raw)
    names = tuple(raw.get("options") or ()) or tuple(schemas)
    return Catalogue(
        default_model=raw["default_model"],
        preprocess_version=raw["preprocess_version"],
        models={card["name"]: card for card in raw["models"]},
        options=names,
        raw=raw,
        fetched_at=fetched_at,
        option_schemas={name: schemas.get(name, dict(PLAIN_OPTION)) for name in names},
        routes=extra_routes(raw),
    )


def option_schemas(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each option's JSON schema from `options_schema`, references inlined, titles dropped."""
    document = raw.get("options_schema")
    if not isinstance(document, dict):
        return {}
    properties = inline_refs(document).get("properties")
    if not isinstance(properties, dict):
        return {}
    return {
        str(name): {key: value for key, value in schema.items() if key != "title"}
        for name, schema in properties.items()
        if isinstance(schema, dict)
    }


def extra_routes(raw: dict[str, Any]) -> dict[str, ExtraRoute]:
    """The declared routes that can be served; a malformed one is logged and left out."""
    routes: dict[str, ExtraRoute] = {}
    for entry in raw.get("routes") or ():
        try:
            route = _route(entry)
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning("%s service declares an unusable route %r: %s", raw.get("task"), entry, exc)
            continue
        routes[route.name] = route
    return routes


def _route(entry: dict[str, Any]) -> ExtraRoute:
    method = str(entry.get("method", "GET")).upper()
    if method not in ROUTE_METHODS:
        raise ValueError(f"method must be one of {ROUTE_METHODS}")
    name, path = str(entry["name"]), str(entry["path"])
    if not name or "/" in name or not path.startswith("/"):
        raise ValueError("a route needs a name (one path segment) and an absolute service path")
    entry = inline_refs(entry)
    return ExtraRoute(
        name=name,
        method=method,
        path=path,
        summary=str(entry.get("summary") or ""),
        description=str(entry.get("description") or ""),
        passed_headers=frozenset(
            {"content-type", *(str(header).lower() for header in entry.get("passed_headers") or ())}
        ),
        download_filename=entry.get("download_filename") or None,
        parameters=list(entry.get("parameters") or []),
        request_body=entry.get("request_body") or None,
        responses=dict(entry.get("responses") or {}),
    )


def inline_refs(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of `document` with its local `#/$defs/...` references replaced by their targets,
    and `$defs` removed: the schema is then valid anywhere in an OpenAPI document."""
    definitions = document.get("$defs") or {}

    def resolve(node: Any, depth: int) -> Any:
        if depth > 32:  # a recursive definition: left as a free-form value
            return {}
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str) and reference.startswith("#/$defs/"):
                target = definitions.get(reference.removeprefix("#/$defs/"), {})
                siblings = {k: v for k, v in node.items() if k != "$ref"}
                return {**resolve(target, depth + 1), **resolve(siblings, depth)}
            return {key: resolve(value, depth) for key, value in node.items() if key != "$defs"}
        if isinstance(node, list):
            return [resolve(item, depth) for item in node]
        return node

    return resolve(document, 0)
