"""`create_app(spec)`: a task's FastAPI app, wired from its `TaskSpec`.

Models load in the background after start-up, so liveness answers at once and readiness flips
when every model is warm. SIGHUP reloads the models like `POST /v1/admin/reload`.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from recognition_common.edge.errors import install_error_handlers
from recognition_common.edge.intake import BodyLimitMiddleware
from recognition_common.edge.timeouts import BodyTimeoutMiddleware
from recognition_common.serving.routes import shared_router
from recognition_common.serving.service import RecognitionService
from recognition_common.serving.settings import RecognizerSettings
from recognition_common.serving.spec import TaskSpec


def create_app(spec: TaskSpec[Any], settings: RecognizerSettings | None = None) -> FastAPI:
    """The task's service: shared routes, the task's own, error format, body limits."""
    service = RecognitionService(spec, settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        loader = asyncio.create_task(service.start())
        reloads: set[asyncio.Task[None]] = set()

        def on_sighup() -> None:
            task = asyncio.create_task(service.reloader.reload_logged())
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
        await service.stop()

    app = FastAPI(
        title=f"{spec.name} recognizer",
        version="1.0.0",
        lifespan=lifespan,
        description="Internal recognizer service; clients use the gateway's /api/v1 instead.",
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_upload_bytes=service.settings.max_upload_bytes)
    app.add_middleware(BodyTimeoutMiddleware, timeout_s=service.settings.body_timeout_s)
    app.state.service = service  # for tests and operators; routes get it as an argument
    app.include_router(shared_router(service))
    if spec.router is not None:
        app.include_router(spec.router(service))
    return app


def _suppress_signal_errors(install: Callable[[], Any]) -> bool:
    with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
        install()
        return True
    return False
