"""Response shapes of the public API, for the OpenAPI document (`/docs`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ModelRef(BaseModel):
    name: str
    version: str
    fingerprint: str | None = Field(
        default=None, description="SHA-256 prefix of the model's files: changes whenever they do"
    )


class RecognitionResult(BaseModel):
    """Common fields; each task adds its own (digit: `digits`, `rejected`, ...)."""

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
    for status, description in {
        400: "Bad request body; url_refused: image_url not fetched (private address, host not "
        "allowed, more than 3 redirects, fetching off)",
        404: "Unknown task or model",
        413: "Upload, fetched image or image dimensions too large",
        415: "Not an image (judged by content)",
        422: "Unreadable or empty image; url_unreachable: image_url failed or was too slow",
        503: "Backend down or overloaded",
        504: "Backend timeout",
    }.items()
}
