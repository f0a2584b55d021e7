"""A task's request options: one pydantic model per task, validated once, by the service.

Options are the request parameters besides the image and `model` that change an answer (a
reading `mode`, a count of fields, ...). They arrive as text from a query string, form fields or JSON
(`edge.intake`); the task's `Options` model turns them into typed values, and its JSON schema is
what `GET /v1/models` publishes for the gateway to document and forward them by. Names the model
does not declare are dropped, so a client's unrelated parameter never reaches a recognizer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from recognition_common.edge import errors
from recognition_common.edge.errors import ApiError

OptionsT = TypeVar("OptionsT", bound=BaseModel)


class NoOptions(BaseModel):
    """The options of a task that has none."""

    model_config = ConfigDict(frozen=True)


def option_names(options: type[BaseModel]) -> list[str]:
    """The names a task's options model declares, in its order."""
    return list(options.model_fields)


def options_schema(options: type[BaseModel]) -> dict[str, Any]:
    """The options model's JSON schema as the catalogue publishes it: always an object with
    `properties` (empty for a task without options)."""
    if not options.model_fields:
        return {"type": "object", "properties": {}}
    schema = options.model_json_schema()
    for prop in schema.setdefault("properties", {}).values():
        if "default" in prop and prop["default"] is None:
            del prop["default"]  # an option left out is simply not given: no `null` to document
    return schema


def parse_options(options: type[OptionsT], given: Mapping[str, str] | None) -> OptionsT:
    """`given` (the request's options, text) as `options`, or a 400 `bad_request` naming the
    first option that is wrong, in the model's words (its validators' messages)."""
    known = {name: value for name, value in (given or {}).items() if name in options.model_fields}
    try:
        return options.model_validate(known)
    except ValidationError as exc:
        raise ApiError(400, errors.BAD_REQUEST, _first_message(exc)) from None


def _first_message(exc: ValidationError) -> str:
    """A validator's own message (a `ValueError` it raised) as is; pydantic's otherwise, with the
    option's name in front."""
    first = exc.errors(include_url=False)[0]
    raised = (first.get("ctx") or {}).get("error")
    if isinstance(raised, ValueError):
        return str(raised)
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])
