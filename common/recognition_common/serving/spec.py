"""`TaskSpec`: everything the platform needs to know about a task, in the task's own folder.

A task is one folder (`<task>_service/`) whose `spec.py` defines `SPEC`; its `main.py` is
`app = create_app(SPEC)`. The spec names the task's settings, how to build its recognizer and
how that recognizer runs (`Execution`), its typed model card and request options, the routes it
adds to the shared ones, the routes the gateway should expose for it, and its command lines.
The service publishes the gateway-facing parts in `GET /v1/models` (`catalogue`), so the gateway
learns a task's options and extra routes from the task rather than from its own copy.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal

from fastapi import APIRouter
from pydantic import BaseModel

from recognition_common.cli import Command
from recognition_common.serving.model_card import ModelCard
from recognition_common.serving.options import NoOptions
from recognition_common.serving.recognizer import Recognizer, StagedRecognizer
from recognition_common.serving.settings import SettingsT

if TYPE_CHECKING:  # the service is built from a spec; the spec only names it for typing
    from recognition_common.serving.service import RecognitionService


class Execution(enum.Enum):
    """How a task's recognizer runs a request (see `strategies`)."""

    PLAIN = "plain"  # `preprocess` -> one model call -> `decode`; may run in worker processes
    STAGED = "staged"  # `run(image, card, stages, options)`: several model calls and CPU steps


@dataclass(frozen=True)
class GatewayRoute:
    """A route of this task the gateway exposes as `/api/v1/{task}/{name}`, forwarding to `path`.

    The OpenAPI fragments (`parameters`, `request_body`, `responses`) are what the gateway's own
    documentation shows for it.
    """

    name: str
    method: Literal["GET", "POST"]
    path: str  # on this service
    summary: str
    description: str = ""
    passed_headers: tuple[str, ...] = ()  # response headers passed back, lower case
    download_filename: str | None = None  # set: a 200 is sent as an attachment of this name
    parameters: tuple[Mapping[str, Any], ...] = ()
    request_body: Mapping[str, Any] | None = None
    responses: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """As the catalogue (`GET /v1/models`, `routes`) lists it."""
        return {
            "name": self.name,
            "method": self.method,
            "path": self.path,
            "summary": self.summary,
            "description": self.description,
            "passed_headers": [header.lower() for header in self.passed_headers],
            "download_filename": self.download_filename,
            "parameters": [dict(parameter) for parameter in self.parameters],
            "request_body": None if self.request_body is None else dict(self.request_body),
            "responses": {str(status): dict(response) for status, response in self.responses.items()},
        }


@dataclass(frozen=True)
class TaskSpec(Generic[SettingsT]):
    """One task, as its folder declares it."""

    name: str  # the task's name: `/api/v1/{name}/...`, metrics' `task` label, cards' `task`
    settings: type[SettingsT]  # read from the environment with the task's prefix
    recognizer: Callable[[SettingsT], Recognizer | StagedRecognizer]
    execution: Execution = Execution.PLAIN
    card: type[ModelCard] = ModelCard  # the served models' cards are read (and checked) as this
    options: type[BaseModel] = NoOptions  # the request options; only a staged task receives them
    # Routes the task adds to the shared ones, built with the running service.
    router: Callable[[RecognitionService[SettingsT]], APIRouter] | None = None
    routes: tuple[GatewayRoute, ...] = ()  # what the gateway should expose for the task
    # Its command line (`python -m <task>_service.cli`): subcommand -> the module that runs it.
    commands: Mapping[str, Command] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.execution is Execution.PLAIN and self.options.model_fields:
            # A plain recognizer's `preprocess`/`decode` take no options: they would be dropped.
            raise ValueError(f"task {self.name!r}: only a staged task can take request options")
        names = [route.name for route in self.routes]
        if len(names) != len(set(names)):
            raise ValueError(f"task {self.name!r}: two gateway routes share a name: {names}")
