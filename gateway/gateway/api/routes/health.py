"""Liveness, readiness (backends and cache) and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from gateway.api.deps import GatewayState, get_state
from recognition_common.edge.metrics import metrics_response

router = APIRouter()


@router.get("/healthz", summary="Liveness: the gateway process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness of every backend and of the cache")
async def readyz(state: GatewayState = Depends(get_state)) -> JSONResponse:
    """200 while at least one task can be served; `degraded` says what is missing.

    A down backend or cache does not take the whole gateway out of rotation: other tasks and
    cached answers still work.
    """
    tasks = list(state.backends)
    backends, cache = await asyncio.gather(
        asyncio.gather(*(state.backends[task].readiness() for task in tasks)), state.cache.status()
    )
    backend_status = dict(zip(tasks, backends, strict=True))
    healthy = [task for task, info in backend_status.items() if info["status"] == "ok"]
    if not healthy:
        status = "unavailable"
    elif len(healthy) < len(tasks) or cache["status"] != "ok":
        status = "degraded"
    else:
        status = "ok"
    return JSONResponse(
        {"status": status, "backends": backend_status, "cache": cache},
        status_code=503 if status == "unavailable" else 200,
    )


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(state: GatewayState = Depends(get_state)) -> Response:
    return metrics_response(state.metrics.registry)
