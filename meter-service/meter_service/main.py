"""ASGI entry point: `uvicorn meter_service.main:app`.

The shared recognizer app (`/v1/recognize`, `/v1/models`, health, metrics) around the staged
`MeterRecognizer`, plus the meter service's own routes (`meter_service.routes`), as
`meter_service.spec.SPEC` declares them.
"""

from __future__ import annotations

from meter_service.spec import SPEC
from recognition_common.serving.app import create_app

app = create_app(SPEC)
