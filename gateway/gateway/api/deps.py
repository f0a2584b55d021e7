"""Shared per-app state the routes use, built once at start-up (see gateway.main)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from prometheus_client import CollectorRegistry, Counter, Histogram

from gateway.backends import Backend
from gateway.cache import ResultCache
from gateway.catalogue import Catalogue
from gateway.config import GatewaySettings
from gateway.feedback import FeedbackStore
from recognition_common.edge import errors
from recognition_common.edge.errors import ApiError
from recognition_common.edge.metrics import LATENCY_BUCKETS


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gateway_requests",
            "Recognize requests by task, outcome and cache result",
            ["task", "status", "cache"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gateway_request_seconds",
            "Time to answer a recognize request",
            ["task", "cache"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.backend_errors = Counter(
            "gateway_backend_errors",
            "Backend calls that failed (unavailable or timed out)",
            ["task", "code"],
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}

    def observe(self, task: str, status: str, cache: str, seconds: float) -> None:
        """Count one recognize request; label lookups are cached (they cost microseconds each)."""
        key = (task, status, cache)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(task, status, cache), self.latency.labels(task, cache))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


@dataclass
class GatewayState:
    settings: GatewaySettings
    backends: dict[str, Backend]
    cache: ResultCache
    metrics: GatewayMetrics
    feedback: FeedbackStore | None = None  # None: corrections are not kept


def get_state(request: Request) -> GatewayState:
    return request.app.state.gateway


def backend_for(state: GatewayState, task: str) -> Backend:
    """The task's backend, or 404 unknown_task naming the tasks this gateway serves."""
    backend = state.backends.get(task)
    if backend is None:
        known = ", ".join(sorted(state.backends))
        raise ApiError(404, errors.UNKNOWN_TASK, f"unknown task {task!r}; available: {known}")
    return backend


async def resolve_model(backend: Backend, model: str | None, deadline: float) -> tuple[Catalogue, str]:
    """The backend's catalogue and the model asked for (default: the task's), or 404 unknown_model.
    A name the catalogue does not know makes it refresh once: perhaps a model was just added."""
    catalogue = await backend.catalogue(deadline=deadline)
    name = model or catalogue.default_model
    if name not in catalogue.models:
        catalogue = await backend.catalogue(refresh=True, deadline=deadline)
        if name not in catalogue.models:
            known = ", ".join(sorted(catalogue.models))
            raise ApiError(
                404, errors.UNKNOWN_MODEL, f"unknown {backend.task} model {name!r}; known: {known}"
            )
    return catalogue, name
