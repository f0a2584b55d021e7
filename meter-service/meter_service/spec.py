"""The meter task, as the platform sees it: `SPEC`.

A staged recognizer (locator, then wheel reader, CPU steps between) with typed cards
(`MeterCard`, which lists its locator) and request options (`MeterOptions`); its own routes
(`routes.meter_router`: the seed's `/recognize`, the demo zip) and the one the gateway exposes
for it: the demo zip, as a download.
"""

from __future__ import annotations

from meter_service.card import MeterCard
from meter_service.cli import COMMANDS
from meter_service.config import MeterSettings
from meter_service.options import MeterOptions
from meter_service.recognizer import MeterRecognizer
from meter_service.routes import DEMO_FILENAME, meter_router
from recognition_common.serving.openapi import error_responses
from recognition_common.serving.spec import Execution, GatewayRoute, TaskSpec

DEMO = GatewayRoute(
    name="demo",
    method="GET",
    path="/v1/demo",
    summary="Sample water-meter photos to try the meter task with (a zip)",
    description="A zip of sample meter photos from the meter service, for trying the recognizer "
    "without a meter at hand (the page links it).",
    passed_headers=("content-type", "content-disposition", "cache-control", "etag", "retry-after"),
    download_filename=DEMO_FILENAME,
    responses={
        "200": {"content": {"application/zip": {}}, "description": "A zip of sample meter photos"},
        **error_responses(404, 503, 504),
    },
)

SPEC = TaskSpec(
    name="meter",
    settings=MeterSettings,
    recognizer=lambda settings: MeterRecognizer(
        settings.min_confidence, settings.min_window_score, settings.min_reading_confidence
    ),
    execution=Execution.STAGED,
    card=MeterCard,
    options=MeterOptions,
    router=meter_router,
    routes=(DEMO,),
    commands=COMMANDS,
)
