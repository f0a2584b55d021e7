"""ASGI entry point: `uvicorn meter_service.main:app`.

The shared recognizer app (`/v1/recognize`, `/v1/models`, health, metrics) around the staged
`MeterRecognizer`, plus the meter service's own routes (`meter_service.routes`): the seed's
`/recognize` and the demo images.
"""

from __future__ import annotations

from fastapi import FastAPI

from meter_service.config import MeterSettings
from meter_service.recognizer import MeterRecognizer
from meter_service.routes import router
from recognition_common.service import create_recognizer_app


def create_app(settings: MeterSettings | None = None) -> FastAPI:
    settings = settings or MeterSettings()
    recognizer = MeterRecognizer(
        settings.min_confidence, settings.min_window_score, settings.min_reading_confidence
    )
    app = create_recognizer_app(recognizer, settings)
    app.state.meter_settings = settings
    app.include_router(router)
    return app


app = create_app()
