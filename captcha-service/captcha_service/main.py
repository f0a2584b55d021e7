"""ASGI entry point: `uvicorn captcha_service.main:app`.

The shared recognizer app (`/v1/recognize`, `/v1/models`, health, metrics) plus the captcha
service's own routes (`captcha_service.routes`): the seed's `/b`, `GET /captcha/` and a batch
endpoint.
"""

from __future__ import annotations

from fastapi import FastAPI

from captcha_service.config import CaptchaSettings
from captcha_service.recognizer import CaptchaRecognizer
from captcha_service.routes import router
from recognition_common.service import create_recognizer_app


def create_app(settings: CaptchaSettings | None = None) -> FastAPI:
    settings = settings or CaptchaSettings()
    app = create_recognizer_app(
        CaptchaRecognizer(settings.min_confidence, settings.min_answer_confidence), settings
    )
    app.state.captcha_settings = settings
    app.include_router(router)
    return app


app = create_app()
