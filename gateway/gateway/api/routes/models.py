"""`GET /api/v1/models`: every task's models with their cards."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends

from gateway.api.deps import GatewayState, get_state
from gateway.api.schemas import ModelsResponse, TaskModels
from gateway.backends import Backend
from recognition_common.edge.errors import ApiError

router = APIRouter()


async def _task_models(backend: Backend) -> TaskModels:
    try:
        catalogue = await backend.catalogue()
    except ApiError:
        return TaskModels(status="unavailable")
    return TaskModels(
        status="ok",
        default_model=catalogue.default_model,
        preprocess_version=catalogue.preprocess_version,
        device=catalogue.raw.get("device"),
        models=list(catalogue.models.values()),
    )


@router.get("/api/v1/models", summary="Models of every task, with their cards", response_model=ModelsResponse)
async def list_models(state: GatewayState = Depends(get_state)) -> ModelsResponse:
    tasks = list(state.backends)
    results = await asyncio.gather(*(_task_models(state.backends[task]) for task in tasks))
    return ModelsResponse(tasks=dict(zip(tasks, results, strict=True)))
