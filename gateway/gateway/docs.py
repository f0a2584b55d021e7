"""The API docs, Swagger UI at `/docs` and ReDoc at `/redoc`, served whole by the gateway.

FastAPI's own pages load their scripts from a CDN and start Swagger UI with an inline script: blank
without internet, and only possible with the Content Security Policy switched off. Here the
scripts and styles come from the `fastapi-offline` package's files (a well-kept copy of the
Swagger UI and ReDoc bundles, MIT), served at /docs-assets/, and Swagger UI is started by a
script file of ours, so both pages work offline under `DOCS_CONTENT_SECURITY_POLICY`: scripts
from the gateway only (inline styles are allowed: both bundles set their styles from script).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"
ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs-init.js"})

_SWAGGER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - API docs</title>
<link rel="icon" href="{assets}/favicon.png"><link rel="stylesheet" href="{assets}/swagger-ui.css">
</head><body><div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script><script src="/docs-init.js"></script>
</body></html>
"""
_SWAGGER_INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""
_REDOC_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - API reference</title>
<link rel="icon" href="{assets}/favicon.png"></head>
<body><redoc spec-url="/openapi.json"></redoc><script src="{assets}/redoc.standalone.js"></script>
</body></html>
"""


def install_docs(app: FastAPI) -> None:
    """Add /docs, /redoc and their assets to `app` (made with docs_url=None, redoc_url=None)."""
    router = APIRouter(include_in_schema=False)
    swagger = _SWAGGER_PAGE.format(title=app.title, assets=ASSETS_PATH)
    redoc = _REDOC_PAGE.format(title=app.title, assets=ASSETS_PATH)

    @router.get("/docs")
    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(swagger)

    @router.get("/docs-init.js")
    async def swagger_ui_init() -> Response:
        return Response(_SWAGGER_INIT, media_type="text/javascript")

    @router.get("/redoc")
    async def redoc_page() -> HTMLResponse:
        return HTMLResponse(redoc)

    app.include_router(router)
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
