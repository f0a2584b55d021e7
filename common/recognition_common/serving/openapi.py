"""OpenAPI fragments a task's `GatewayRoute`s are documented with, in plain JSON.

The gateway shows these for the routes it exposes on a task's behalf, so they are written from
the client's side of the gateway: its error statuses (API keys, rate limit, backend down) are
listed beside the task's own, in the platform's error format (`edge.errors.error_responses`).
The schemas are inlined rather than `$ref`s into the gateway's components, so a task's routes
document themselves whatever the gateway defines.
"""

from __future__ import annotations

from typing import Any

from recognition_common.edge.errors import error_responses

__all__ = ["MODEL_REFERENCE_SCHEMA", "error_responses"]

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
