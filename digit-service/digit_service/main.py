"""ASGI entry point: `uvicorn digit_service.main:app`."""

from __future__ import annotations

from fastapi import FastAPI

from digit_service.config import DigitSettings
from digit_service.recognizer import DigitRecognizer
from recognition_common.service import create_recognizer_app


def create_app(settings: DigitSettings | None = None) -> FastAPI:
    settings = settings or DigitSettings()
    return create_recognizer_app(DigitRecognizer(settings.min_confidence), settings)


app = create_app()
