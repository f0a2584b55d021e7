"""The captcha task, as the platform sees it: `SPEC`.

A plain recognizer (grey + resize, one CTC model call, greedy decoding) with typed cards
(`CaptchaCard`) and no request options; its own routes (`routes.captcha_router`) and the two the
gateway exposes for it: a fresh sample image and batch recognition.
"""

from __future__ import annotations

from typing import Any

from captcha_service.card import CaptchaCard
from captcha_service.cli import COMMANDS
from captcha_service.config import CaptchaSettings
from captcha_service.recognizer import CaptchaRecognizer
from captcha_service.routes import captcha_router
from recognition_common.serving.openapi import MODEL_REFERENCE_SCHEMA, error_responses
from recognition_common.serving.spec import Execution, GatewayRoute, TaskSpec

PASSED_HEADERS = ("content-type", "x-captcha-text", "x-captcha-model", "cache-control", "retry-after")

MODEL_PARAMETER: dict[str, Any] = {
    "name": "model",
    "in": "query",
    "required": False,
    "schema": {"type": "string"},
    "description": "captcha model; default: the service's default",
}

BATCH_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["files"],
                "properties": {
                    "files": {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "minItems": 1,
                        "maxItems": 64,
                        "description": "The images, one part each (at most CAPTCHA_MAX_BATCH_IMAGES, 64)",
                    },
                    "model": {"type": "string"},
                },
                "additionalProperties": {"type": "string"},
                "maxProperties": 9,  # the files and at most 8 other fields
            }
        },
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["images_base64"],
                "properties": {
                    "images_base64": {
                        "type": "array",
                        "items": {
                            "type": "string",
                            "description": "An image in base64, as image_base64 of /recognize; one "
                            "that is not (or is no image) gets its own 4xx entry in results",
                        },
                        "minItems": 1,
                        "maxItems": 64,
                    },
                    "model": {"type": ["string", "null"], "description": "null: the default model"},
                },
            }
        },
    },
}

BATCH_RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["model", "preprocess_version", "results"],
    "properties": {
        "model": MODEL_REFERENCE_SCHEMA,
        "preprocess_version": {"type": "string"},
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "description": "One image's outcome: `result` with status 200, "
                "or `error` with its 4xx status",
                "required": ["status"],
                "properties": {
                    "status": {"type": "integer"},
                    "result": {"type": ["object", "null"]},
                    "error": {"type": ["object", "null"]},
                },
            },
        },
    },
}

SAMPLE = GatewayRoute(
    name="sample",
    method="GET",
    path="/v1/sample",
    summary="A new captcha image (PNG); its text in X-Captcha-Text",
    description="A freshly rendered captcha from the captcha service, its text in `X-Captcha-Text` "
    '(the page\'s "New sample" button).',
    passed_headers=PASSED_HEADERS,
    parameters=(MODEL_PARAMETER,),
    responses={
        "200": {
            "description": "A freshly rendered captcha",
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
            "headers": {
                "X-Captcha-Text": {"schema": {"type": "string"}, "description": "What the image says"},
                "X-Captcha-Model": {"schema": {"type": "string"}, "description": "The model it is for"},
            },
        },
        **error_responses(401, 404, 429, 502, 503, 504),
    },
)

RECOGNIZE_BATCH = GatewayRoute(
    name="recognize-batch",
    method="POST",
    path="/v1/recognize-batch",
    summary="Recognize several captcha images, in order",
    description="Several images in one request (multipart `files` or JSON `images_base64`), "
    "results in order; not cached.",
    passed_headers=PASSED_HEADERS,
    parameters=(MODEL_PARAMETER,),
    request_body=BATCH_BODY,
    responses={
        "200": {
            "description": "One result or error per image, in order",
            "content": {"application/json": {"schema": BATCH_RESPONSE_SCHEMA}},
        },
        **error_responses(400, 401, 404, 413, 429, 502, 503, 504),
    },
)

SPEC = TaskSpec(
    name="captcha",
    settings=CaptchaSettings,
    recognizer=lambda settings: CaptchaRecognizer(settings.min_confidence, settings.min_answer_confidence),
    execution=Execution.PLAIN,
    card=CaptchaCard,
    router=captcha_router,
    routes=(SAMPLE, RECOGNIZE_BATCH),
    commands=COMMANDS,
)
