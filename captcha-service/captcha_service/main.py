"""ASGI entry point: `uvicorn captcha_service.main:app`.

The shared recognizer app (`/v1/recognize`, `/v1/models`, health, metrics) plus the captcha
service's own routes (`captcha_service.routes`), as `captcha_service.spec.SPEC` declares them.
"""

from __future__ import annotations

from captcha_service.spec import SPEC
from recognition_common.serving.app import create_app

app = create_app(SPEC)
