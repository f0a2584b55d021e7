"""`RecognitionService`: one task's running service, the object every route talks to.

It owns the model registry, the loader and reloader, the execution strategy and the metrics,
and exposes `recognize(data, model, options)`: the shared `/v1/recognize` and a task's own routes
(a batch endpoint, a sample route) all go through it, so they recognize alike,
metrics included. Routes get it as an argument (`spec.router`), not through `app.state`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, Generic

from recognition_common.edge.errors import ApiError
from recognition_common.edge.metrics import RecognizerMetrics
from recognition_common.serving.loader import ModelLoader
from recognition_common.serving.options import option_names, options_schema
from recognition_common.serving.recognizer import Recognizer, StagedRecognizer
from recognition_common.serving.registry import ModelRegistry, ServedModel
from recognition_common.serving.reloading import ModelReloader
from recognition_common.serving.settings import RecognizerSettings, SettingsT
from recognition_common.serving.spec import Execution, TaskSpec
from recognition_common.serving.strategies import (
    ExecutionStrategy,
    InProcessStrategy,
    PooledStrategy,
    StagedStrategy,
)

logger = logging.getLogger("recognition.service")


def choose_strategy(
    spec: TaskSpec[Any], recognizer: Recognizer | StagedRecognizer, settings: RecognizerSettings
) -> ExecutionStrategy:
    """The task's declared execution, with worker processes for a plain one when configured
    (`PREPROCESS_PROCESSES` > 0)."""
    if spec.execution is Execution.STAGED:
        if not isinstance(recognizer, StagedRecognizer):
            raise TypeError(f"task {spec.name!r} is staged: its recognizer needs run()")
        return StagedStrategy(recognizer, settings, spec.options)
    if not isinstance(recognizer, Recognizer):
        raise TypeError(f"task {spec.name!r} is plain: its recognizer needs preprocess() and decode()")
    if settings.preprocess_processes > 0:
        return PooledStrategy(recognizer, settings)
    return InProcessStrategy(recognizer, settings)


class RecognitionService(Generic[SettingsT]):
    """A task's recognizer serving its models: what `create_app` wires routes to."""

    def __init__(self, spec: TaskSpec[SettingsT], settings: SettingsT | None = None) -> None:
        self.spec = spec
        self.settings = settings if settings is not None else spec.settings()
        self.recognizer = spec.recognizer(self.settings)
        if self.recognizer.task != spec.name:
            raise ValueError(f"the {spec.name!r} spec builds a recognizer for {self.recognizer.task!r}")
        self.metrics = RecognizerMetrics(spec.name)
        self.registry = ModelRegistry()
        self.loader = ModelLoader(self.settings, self.metrics, spec.card)
        self.reloader = ModelReloader(self.registry, self.settings.model_dir, self.loader)
        self.strategy = choose_strategy(spec, self.recognizer, self.settings)

    @property
    def task(self) -> str:
        return self.spec.name

    @property
    def preprocess_version(self) -> str:
        return self.recognizer.preprocess_version

    async def start(self) -> None:
        """Start-up, in the background of a live process: the strategy, then the models."""
        await self.strategy.start()
        await self.loader.load_all(self.registry)

    async def stop(self) -> None:
        """Shutdown: draining models finish, batchers stop, workers and threads go."""
        await self.reloader.close()
        await self.registry.stop()
        self.strategy.close()

    async def recognize(
        self, data: bytes, model: str | None, options: Mapping[str, str] | None = None
    ) -> tuple[ServedModel, dict[str, Any]]:
        """One image through the task's strategy: the model that answered and its `result`.

        `options` are the request's, as text; only the task's own reach its recognizer.
        """
        started = time.perf_counter()
        served = self.registry.get(model)
        served.in_flight += 1  # before any await: a reload drains this model only after us
        status = "error"
        try:
            result = await self.strategy.recognize(served, data, options or {})
            status = "ok"
        except ApiError as exc:
            status = str(exc.status)
            raise
        finally:
            served.in_flight -= 1
            name = served.card.name
            self.metrics.requests.labels(self.task, name, status).inc()
            self.metrics.latency.labels(self.task, name).observe(time.perf_counter() - started)
        return served, result

    def catalogue(self) -> dict[str, Any]:
        """`GET /v1/models`: the task, its models with their cards, its options and its routes."""
        registry = self.registry
        return {
            "task": self.task,
            "ready": registry.ready,
            "default_model": registry.default,
            "preprocess_version": self.preprocess_version,
            "options": option_names(self.spec.options),
            "options_schema": options_schema(self.spec.options),
            "routes": [route.to_json() for route in self.spec.routes],
            "device": registry.device.kind if registry.device else None,
            "max_batch": self.settings.max_batch,
            "models": [served.describe() for served in registry.models.values()],
        }

    def readiness(self) -> dict[str, Any]:
        """`GET /readyz`'s body; `status` is `ready` only when every model is loaded and warm."""
        registry = self.registry
        body: dict[str, Any] = {
            "status": "ready" if registry.ready else ("failed" if registry.error else "loading"),
            "task": self.task,
            "models": {name: served.card.version for name, served in registry.models.items()},
            "device": registry.device.kind if registry.device else None,
            "max_batch": self.settings.max_batch,
            "retiring": self.reloader.retiring,  # replaced models still finishing their requests
        }
        if registry.error:
            body["error"] = registry.error
        return body
