"""ASGI entry point: `uvicorn gateway.main:app`. Builds the app from `GatewaySettings`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gateway.api.deps import GatewayMetrics, GatewayState
from gateway.api.routes import extra, feedback, health, models, recognize
from gateway.backends import Backend
from gateway.cache import create_cache
from gateway.config import GatewaySettings
from gateway.docs import install_docs
from gateway.feedback import DirectoryStore
from gateway.openapi import install_openapi
from gateway.pages import mount_pages
from gateway.security import install_security
from recognition_common.edge.errors import install_error_handlers
from recognition_common.edge.intake import BodyLimitMiddleware
from recognition_common.edge.timeouts import BodyTimeoutMiddleware

logger = logging.getLogger("gateway")


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        backends = {
            task: Backend(
                task,
                url,
                timeout_s=settings.backend_timeout_s,
                connect_timeout_s=settings.backend_connect_timeout_s,
                max_connections=settings.backend_max_connections,
                catalogue_ttl_s=settings.catalogue_ttl_s,
            )
            for task, url in settings.backends.items()
        }
        cache = create_cache(
            settings.redis_url,
            settings.cache_ttl_s,
            settings.cache_max_items,
            settings.cache_retry_s,
            near_items=settings.near_cache_items,
            near_ttl_s=settings.near_cache_ttl_s,
        )
        feedback = DirectoryStore(settings.feedback_dir) if settings.feedback_dir else None
        app.state.gateway = GatewayState(settings, backends, cache, GatewayMetrics(), feedback)
        logger.info("gateway up: tasks %s, cache %s", sorted(backends), cache.backend)
        yield
        for backend in backends.values():
            await backend.close()
        await cache.close()
        if limiter is not None:
            await limiter.close()

    app = FastAPI(
        title="Recognition Services",
        version="1.0.0",
        description=settings.description,
        lifespan=lifespan,
        openapi_url=None,  # served by gateway.openapi, completed from the backends' catalogues
        docs_url=None,  # served by gateway.docs, from the gateway's own files
        redoc_url=None,
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_upload_bytes=settings.max_upload_bytes)
    app.add_middleware(BodyTimeoutMiddleware, timeout_s=settings.body_timeout_s)
    # API keys, rate limits, CORS, security headers: outside the body limit (see gateway.security).
    limiter = install_security(app, settings)
    app.include_router(recognize.router, tags=["recognition"])
    app.include_router(feedback.router, tags=["feedback"])
    app.include_router(models.router, tags=["models"])
    app.include_router(health.router, tags=["operations"])
    # After the gateway's own routes: /api/v1/{task}/{name} must not shadow them.
    app.include_router(extra.router, tags=["tasks"])
    install_openapi(app, settings)
    install_docs(app)
    if settings.frontend_dir.is_dir():
        mount_pages(app, settings.frontend_dir)
    return app


app = create_app()
