"""The routes every recognizer service has, around its `RecognitionService`.

* `POST /v1/recognize[?model=]`  image in, `{"model", "preprocess_version", "result"}` out
* `GET  /v1/models`              the catalogue: models with their cards, options, extra routes
* `GET  /healthz`                the process is alive
* `GET  /readyz`                 models loaded and warmed (503 until then)
* `GET  /metrics`                Prometheus
* `POST /v1/admin/reload`        re-read the model directory and swap changed models in (also on
                                 SIGHUP; see `reloading`); not behind the gateway
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from recognition_common.edge import errors
from recognition_common.edge.errors import ApiError
from recognition_common.edge.intake import read_image_upload
from recognition_common.edge.metrics import metrics_response
from recognition_common.serving.responses import json_dumps
from recognition_common.serving.service import RecognitionService


def shared_router(service: RecognitionService) -> APIRouter:
    """The shared routes, each a thin shell over `service`."""
    router = APIRouter()

    @router.post("/v1/recognize", summary="Recognize one image")
    async def recognize(request: Request) -> Response:
        upload = await read_image_upload(request)
        served, result = await service.recognize(upload.data, upload.model, upload.options)
        body = {
            "model": served.reference(),
            "preprocess_version": service.preprocess_version,
            "result": result,
        }
        return Response(json_dumps(body), media_type="application/json")

    @router.get("/v1/models", summary="Models this service serves, with their cards")
    async def list_models() -> dict[str, Any]:
        return service.catalogue()

    @router.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Readiness: every model loaded and warm")
    async def readyz() -> JSONResponse:
        return JSONResponse(service.readiness(), status_code=200 if service.registry.ready else 503)

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return metrics_response(service.metrics.registry)

    @router.post("/v1/admin/reload", summary="Load changed model files beside the served ones, then swap")
    async def reload_models(request: Request) -> Response:
        token = service.settings.admin_token
        if token:
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), token.encode()):
                raise ApiError(401, errors.UNAUTHORIZED, "reloading needs 'Authorization: Bearer <token>'")
        return Response(json_dumps(await service.reloader.reload()), media_type="application/json")

    return router
