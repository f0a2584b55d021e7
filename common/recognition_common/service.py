"""The recognizer service every task runs: a FastAPI app around a `Recognizer`.

Endpoints (the same in every recognizer service; the gateway is their only intended client):

* `POST /v1/recognize[?model=]`  image in, `{"model", "preprocess_version", "result"}` out
* `GET  /v1/models`              the task's models with their cards
* `GET  /healthz`                the process is alive
* `GET  /readyz`                 models loaded and warmed (503 until then)
* `GET  /metrics`                Prometheus
* `POST /v1/admin/reload`        re-read the model directory and swap changed models in (also on
                                 SIGHUP; see `recognition_common.reloading`); not behind the gateway

Models load in the background after start-up, so liveness answers at once and readiness flips
when every model is warm. Every model is reported with a fingerprint of its files beside its
card's version (`/v1/models`, each answer's `model`), which the gateway puts in its cache keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from recognition_common import errors
from recognition_common.batching import BatchStats, MicroBatcher
from recognition_common.errors import ApiError, install_error_handlers
from recognition_common.imaging import load_image, open_image
from recognition_common.intake import BodyLimitMiddleware, read_image_upload
from recognition_common.metrics import RecognizerMetrics, metrics_response
from recognition_common.model_card import ModelCard
from recognition_common.models import (
    DeviceInfo,
    configure_tensorflow,
    find_model_dirs,
    fingerprint,
    load_compiled,
)
from recognition_common.preprocessing import PreprocessPool, prepare_image
from recognition_common.recognizer import Recognizer
from recognition_common.reloading import ModelReloader, stop_batchers
from recognition_common.settings import RecognizerSettings
from recognition_common.timeouts import BodyTimeoutMiddleware

logger = logging.getLogger("recognition.service")

T = TypeVar("T")


@dataclass
class ServedModel:
    card: ModelCard
    batcher: MicroBatcher
    # Models the recognizer runs besides the main one (card `components`), each batched alone.
    components: dict[str, ServedModel] = field(default_factory=dict)
    model_dir: Path | None = None
    in_flight: int = 0  # requests using it now; a replaced model stops once this is 0

    @property
    def fingerprint(self) -> str:
        """Of the files it was loaded from, components included (`models.fingerprint`): kept on
        the card, which is how answers and `/v1/models` report it."""
        return getattr(self.card, "fingerprint", "")

    def describe(self) -> dict[str, Any]:
        """The card as `GET /v1/models` shows it, with its fingerprint; components as cards."""
        described = self.card.model_dump(mode="json")  # the card has its `fingerprint` added
        if self.components:
            described["components"] = {
                name: component.describe() for name, component in self.components.items()
            }
        return described

    def batchers(self) -> list[MicroBatcher]:
        return [self.batcher, *(b for c in self.components.values() for b in c.batchers())]


class RequestStages:
    """`Stages` for one request: the model's batchers, and CPU work where this image belongs."""

    def __init__(self, served: ServedModel, inline: bool, run_cpu: Callable[..., Any]) -> None:
        self._served = served
        self._inline = inline
        self._run_cpu = run_cpu

    def _model(self, component: str | None) -> ServedModel:
        return self._served if component is None else self._served.components[component]

    def card(self, component: str | None = None) -> ModelCard:
        return self._model(component).card

    async def infer(self, inputs: np.ndarray, component: str | None = None) -> np.ndarray:
        return await self._model(component).batcher.submit(inputs)

    async def cpu(self, function: Callable[..., T], *args: Any) -> T:
        return await self._run_cpu(self._inline, function, *args)


class ModelRegistry:
    """The models a service serves, by name, and whether they are ready."""

    def __init__(self) -> None:
        self.models: dict[str, ServedModel] = {}
        self.default: str | None = None
        self.ready = False
        self.error: str | None = None
        self.device: DeviceInfo | None = None

    def get(self, name: str | None) -> ServedModel:
        if not self.ready:
            raise ApiError(503, errors.NOT_READY, "models are still loading", {"Retry-After": "2"})
        chosen = name or self.default
        if chosen is None or chosen not in self.models:
            known = ", ".join(sorted(self.models))
            raise ApiError(404, errors.UNKNOWN_MODEL, f"unknown model {chosen!r}; known: {known}")
        return self.models[chosen]


def create_recognizer_app(recognizer: Recognizer, settings: RecognizerSettings) -> FastAPI:
    registry = ModelRegistry()
    metrics = RecognizerMetrics(recognizer.task)
    limits = settings.image_limits
    # Pre-processing runs in worker processes (`workers`, recognition_common.preprocessing) unless
    # PREPROCESS_PROCESSES is 0 or the recognizer is staged. Without them: a canvas-sized image
    # takes about a millisecond, less than handing it to a thread and back, and threads holding
    # the GIL slow each other down (measured: 40% more CPU per request); so small images are
    # handled on the event loop, and large photos, whose decoding takes tens of milliseconds, go
    # to a few dedicated threads so the loop stays responsive. The model itself always runs on
    # the batcher's thread.
    cpu_pool = ThreadPoolExecutor(max_workers=settings.preprocess_threads, thread_name_prefix="cpu")
    option_names: tuple[str, ...] = tuple(getattr(recognizer, "options", ()))
    staged_run = getattr(recognizer, "run", None)  # a StagedRecognizer drives its own models
    # A plain recognizer's whole pre-processing (bytes -> model input) fits in one worker call;
    # a staged one goes back and forth between models and CPU steps, and keeps its threads.
    workers = (
        PreprocessPool(settings.preprocess_processes, recognizer, limits)
        if settings.preprocess_processes and not staged_run
        else None
    )

    async def run_cpu(inline: bool, function: Callable[..., T], *args: Any) -> T:
        if inline:
            return function(*args)
        return await asyncio.get_running_loop().run_in_executor(cpu_pool, function, *args)

    async def load_models() -> None:
        nonlocal workers
        if workers is not None:
            try:
                await workers.start()
            except Exception:  # e.g. no writable /dev/shm for multiprocessing's locks
                logger.exception("pre-processing worker processes did not start; pre-processing in-process")
                workers.close()
                workers = None
        try:
            registry.device = await run_in_threadpool(configure_tensorflow, settings.inference_threads)
            model_dirs = find_model_dirs(settings.model_dir)
            if not model_dirs:
                raise RuntimeError(
                    f"no model directories with model.keras + card.json in {settings.model_dir}"
                )
            for model_dir in model_dirs:
                served = await load_served(model_dir)
                registry.models[served.card.name] = served
                activate(served)
            registry.default = settings.default_model or sorted(registry.models)[0]
            if registry.default not in registry.models:
                raise RuntimeError(f"default model {registry.default!r} not found in {settings.model_dir}")
            registry.ready = True
        except (RuntimeError, FileNotFoundError) as exc:  # a setting points at no model: one line
            registry.error = f"{type(exc).__name__}: {exc}"
            logger.error("model loading failed: %s", registry.error)
        except Exception as exc:  # reported by /readyz; the process stays up for inspection
            registry.error = f"{type(exc).__name__}: {exc}"
            logger.exception("model loading failed")

    async def load_served(model_dir: Path, label: str | None = None) -> ServedModel:
        """A model directory and its components, compiled, warmed and each behind a batcher."""
        files = await run_in_threadpool(fingerprint, model_dir)
        card, predict = await run_in_threadpool(load_compiled, model_dir, settings.max_batch)
        name = label or card.name
        components: dict[str, ServedModel] = {}
        try:
            for component in getattr(card, "components", None) or []:
                components[component] = await load_served(model_dir / component, f"{name}/{component}")
            if label is None and await run_in_threadpool(fingerprint, model_dir) != files:
                raise RuntimeError(f"the files in {model_dir} changed while they were loaded; reload again")
        except BaseException:
            for loaded in components.values():
                await stop_batchers(loaded)
            raise
        card = card.model_copy(update={"fingerprint": files})
        return ServedModel(card, _make_batcher(name, predict), components, model_dir)

    def activate(served: ServedModel) -> None:
        """Point the queue-depth gauges at a model that is now being served."""
        gauge = metrics.queue_depth.labels(recognizer.task, served.batcher.name)  # "cnn", "default/locator"
        gauge.set_function(lambda: served.batcher.queued_samples)
        for component in served.components.values():
            activate(component)

    reloader = ModelReloader(registry, settings.model_dir, load_served, activate)

    def _make_batcher(name: str, predict: Any) -> MicroBatcher:
        # The metric children for this batcher, looked up once rather than on every batch.
        batch_size = metrics.batch_size.labels(recognizer.task, name)
        inference = metrics.inference.labels(recognizer.task, name)

        def observe(stats: BatchStats) -> None:
            batch_size.observe(stats.size)
            inference.observe(stats.infer_seconds)

        batcher = MicroBatcher(
            name,
            predict,
            max_batch=settings.max_batch,
            max_wait_ms=settings.max_wait_ms,
            max_queue=settings.max_queue,
            on_batch=observe,
        )
        batcher.start()
        return batcher

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        loader = asyncio.create_task(load_models())
        reloads: set[asyncio.Task[None]] = set()

        def on_sighup() -> None:
            task = asyncio.create_task(reloader.reload_logged())
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        loop = asyncio.get_running_loop()
        # Not possible off the main thread (TestClient): the endpoint still works there.
        hup = _suppress_signal_errors(lambda: loop.add_signal_handler(signal.SIGHUP, on_sighup))
        yield
        if hup:
            _suppress_signal_errors(lambda: loop.remove_signal_handler(signal.SIGHUP))
        loader.cancel()
        for task in list(reloads):
            await task
        await reloader.close()
        for served in registry.models.values():
            await stop_batchers(served)
        cpu_pool.shutdown(wait=False)
        if workers is not None:
            workers.close()

    app = FastAPI(
        title=f"{recognizer.task} recognizer",
        version="1.0.0",
        lifespan=lifespan,
        description="Internal recognizer service; clients use the gateway's /api/v1 instead.",
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_upload_bytes=settings.max_upload_bytes)
    app.add_middleware(BodyTimeoutMiddleware, timeout_s=settings.body_timeout_s)
    app.state.registry = registry
    app.state.metrics = metrics
    app.state.recognizer = recognizer

    async def recognize_bytes(
        data: bytes, model: str | None, options: dict[str, str] | None = None
    ) -> tuple[ModelCard, dict[str, Any]]:
        """One image through pre-processing, the model's batcher and the decoder.

        The card returned carries the served model's `fingerprint` as an extra field.

        Kept on `app.state.recognize_bytes` so a service's own routes (captcha's `/b` and batch
        endpoint) recognize exactly as `/v1/recognize` does, metrics included. `options` are
        filtered to the recognizer's own `options`.
        """
        started = time.perf_counter()
        served = registry.get(model)
        served.in_flight += 1  # before any await: a reload drains this model only after us
        card = served.card
        status = "error"
        try:
            if workers is not None:  # never for a staged recognizer
                prepared = await workers.prepare(data, card)
                outputs = await served.batcher.submit(prepared.inputs)
                result = recognizer.decode(outputs, prepared, card)
            else:
                image = open_image(data, limits)  # validated, header only: decoding happens later
                inline = image.width * image.height <= settings.inline_max_pixels
                if staged_run is not None:
                    stages = RequestStages(served, inline, run_cpu)
                    known = {name: value for name, value in (options or {}).items() if name in option_names}
                    result = await staged_run(await run_cpu(inline, load_image, image), card, stages, known)
                else:
                    prepared = await run_cpu(inline, prepare_image, recognizer, image, card)
                    outputs = await served.batcher.submit(prepared.inputs)
                    result = await run_cpu(inline, recognizer.decode, outputs, prepared, card)
            status = "ok"
        except ApiError as exc:
            status = str(exc.status)
            raise
        finally:
            served.in_flight -= 1
            metrics.requests.labels(recognizer.task, card.name, status).inc()
            metrics.latency.labels(recognizer.task, card.name).observe(time.perf_counter() - started)
        return card, result

    app.state.recognize_bytes = recognize_bytes

    @app.post("/v1/recognize", summary="Recognize one image")
    async def recognize(request: Request) -> Response:
        upload = await read_image_upload(request)
        card, result = await recognize_bytes(upload.data, upload.model, upload.options)
        body = {
            "model": model_reference(card),
            "preprocess_version": recognizer.preprocess_version,
            "result": result,
        }
        return Response(json_dumps(body), media_type="application/json")

    @app.get("/v1/models", summary="Models this service serves, with their cards")
    async def list_models() -> dict[str, Any]:
        return {
            "task": recognizer.task,
            "ready": registry.ready,
            "default_model": registry.default,
            "preprocess_version": recognizer.preprocess_version,
            "options": list(option_names),
            "device": registry.device.kind if registry.device else None,
            "max_batch": settings.max_batch,
            "models": [served.describe() for served in registry.models.values()],
        }

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: every model loaded and warm")
    async def readyz() -> JSONResponse:
        body: dict[str, Any] = {
            "status": "ready" if registry.ready else ("failed" if registry.error else "loading"),
            "task": recognizer.task,
            "models": {name: served.card.version for name, served in registry.models.items()},
            "device": registry.device.kind if registry.device else None,
            "max_batch": settings.max_batch,
            "retiring": reloader.retiring,  # replaced models still finishing their requests
        }
        if registry.error:
            body["error"] = registry.error
        return JSONResponse(body, status_code=200 if registry.ready else 503)

    @app.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return metrics_response(metrics.registry)

    @app.post("/v1/admin/reload", summary="Load changed model files beside the served ones, then swap")
    async def reload_models(request: Request) -> Response:
        if settings.admin_token:
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), settings.admin_token.encode()):
                raise ApiError(401, errors.UNAUTHORIZED, "reloading needs 'Authorization: Bearer <token>'")
        return Response(json_dumps(await reloader.reload()), media_type="application/json")

    return app


def model_reference(card: ModelCard) -> dict[str, Any]:
    """How an answer names the model that computed it: name, version and files' fingerprint."""
    return {"name": card.name, "version": card.version, "fingerprint": getattr(card, "fingerprint", None)}


def _suppress_signal_errors(install: Callable[[], Any]) -> bool:
    with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
        install()
        return True
    return False


def json_dumps(value: Any) -> str:
    """JSON text of a response body that may hold numpy scalars and arrays."""
    return json.dumps(value, default=_json_default)


def _json_default(value: Any) -> Any:
    """numpy scalars and arrays as plain JSON numbers and lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
