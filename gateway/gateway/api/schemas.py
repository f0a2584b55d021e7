"""Response shapes of the public API, for the OpenAPI document (`/docs`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from recognition_common.edge.errors import ERROR_DESCRIPTIONS
from recognition_common.edge.intake import MAX_FORM_FIELDS, MAX_FORM_FILES, MAX_OPTION_LENGTH, MAX_OPTIONS

# An image in base64, as the OpenAPI document describes it: the standard alphabet with padding,
# optionally after a data: URL prefix. The intake also takes the URL-safe alphabet, missing padding
# and line breaks (recognition_common.edge.intake.decode_base64); anything else is 400 bad_request.
BASE64_PATTERN = r"^(data:[^,]*,)?([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)$"
BASE64_IMAGE: dict[str, Any] = {"type": "string", "contentEncoding": "base64", "pattern": BASE64_PATTERN}

# Any other parameter is an option for some task's recognizer (recognition_common.edge.intake): a short
# scalar, at most MAX_OPTIONS of them; a form takes the file and at most MAX_FORM_FIELDS fields.
EXTRA_FORM_FIELD = {"type": "string", "maxLength": MAX_OPTION_LENGTH}
EXTRA_JSON_FIELD = {
    "anyOf": [
        {"type": "string", "maxLength": MAX_OPTION_LENGTH},
        {"type": "number", "minimum": -1e15, "maximum": 1e15},  # written out, still short
        {"type": ["boolean", "null"]},
    ]
}

# The image of a multipart upload, and the bounds every upload body has (the intake's limits).
IMAGE_FILE: dict[str, Any] = {
    "type": "string",
    "format": "binary",
    "minLength": 1,
    "description": "The image",
}
FORM_BOUNDS: dict[str, Any] = {
    "additionalProperties": EXTRA_FORM_FIELD,
    "propertyNames": {"maxLength": MAX_OPTION_LENGTH},
    "maxProperties": MAX_FORM_FILES + MAX_FORM_FIELDS,
}
JSON_BOUNDS: dict[str, Any] = {
    "additionalProperties": EXTRA_JSON_FIELD,
    "propertyNames": {"maxLength": MAX_OPTION_LENGTH},
    "maxProperties": 2 + MAX_OPTIONS,  # the image, the model and the options
}
# The {task} of every /api/v1/{task}/... route; its `enum`, the tasks this gateway serves, is
# filled in from the configuration when the document is built (gateway.openapi).
TASK_PARAMETER: dict[str, Any] = {
    "name": "task",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "A task this gateway serves (404 unknown_task otherwise)",
}


class ModelRef(BaseModel):
    name: str
    version: str
    fingerprint: str | None = Field(
        default=None, description="SHA-256 prefix of the model's files: changes whenever they do"
    )


class RecognitionResult(BaseModel):
    """Common fields; each task adds its own (see the task's service)."""

    model_config = ConfigDict(extra="allow")

    text: str
    confidence: float = Field(ge=0, le=1)
    rejected: bool = False


class RecognizeResponse(BaseModel):
    task: str
    model: ModelRef
    result: RecognitionResult
    cached: bool
    elapsed_ms: float
    request_id: str


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class TaskModels(BaseModel):
    status: str
    default_model: str | None = None
    preprocess_version: str | None = None
    device: str | None = None
    models: list[dict[str, Any]] = []


class ModelsResponse(BaseModel):
    tasks: dict[str, TaskModels]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in ERROR_DESCRIPTIONS.items()
}


class FeedbackStored(BaseModel):
    """A correction, as `POST /api/v1/{task}/feedback` stored it."""

    id: str = Field(description="Made by the server from the image's and the label's SHA-256")
    task: str
    text: str
    model: str
    stored: bool = True
    duplicate: bool = Field(description="The same image with the same label was already stored")
    conflict: bool = Field(description="The same image is also stored with another label")
    corrections_for_model: int = Field(description="Corrections collected for this model so far")


class FeedbackEntry(BaseModel):
    id: str
    text: str
    model: str | None
    model_version: str | None
    time: str
    sha256: str
    conflict: bool


class FeedbackSummary(BaseModel):
    task: str
    total: int
    by_label: dict[str, int]
    by_model: dict[str, int] = Field(description="Model name -> corrections (empty name: not given)")
    conflicts: int = Field(description="Images stored with more than one label")
    newest: list[FeedbackEntry]
