"""OpenAPI fragments a task's `GatewayRoute`s are documented with, in plain JSON.

The gateway shows these for the routes it exposes on a task's behalf, so they are written from
the client's side of the gateway: its error statuses (API keys, rate limit, backend down) are
listed beside the task's own. The schemas are inlined rather than `$ref`s into the gateway's
components, so a task's routes document themselves whatever the gateway defines.
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}

MODEL_REFERENCE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "version"],
    "properties": {
        "name": {"type": "string"},
        "version": {"type": "string"},
        "fingerprint": {
            "type": ["string", "null"],
            "description": "SHA-256 prefix of the model's files: changes whenever they do",
        },
    },
}

ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Bad request body; url_refused: image_url not fetched (private address, host not "
    "allowed, more than 3 redirects, fetching off)",
    401: "API keys are on (GATEWAY_API_KEYS) and X-API-Key is missing or wrong",
    404: "Unknown task or model",
    413: "Upload, fetched image or image dimensions too large",
    415: "Not an image (judged by content)",
    422: "Unreadable or empty image; url_unreachable: image_url failed or was too slow",
    429: "Over the rate limit (GATEWAY_RATE_LIMIT_PER_MINUTE); see Retry-After",
    502: "The backend failed (answered with an unexpected status)",
    503: "Backend down or overloaded",
    504: "Backend timeout",
}


def error_responses(*statuses: int) -> dict[str, dict[str, Any]]:
    """OpenAPI response objects for these error statuses, in the platform's error format."""
    return {
        str(status): {
            "description": ERROR_DESCRIPTIONS[status],
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
        }
        for status in statuses
    }
