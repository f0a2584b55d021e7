"""ASGI entry point: `uvicorn digit_service.main:app`, the app `digit_service.spec.SPEC` declares."""

from __future__ import annotations

from digit_service.spec import SPEC
from recognition_common.serving.app import create_app

app = create_app(SPEC)
