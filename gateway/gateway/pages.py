"""The web pages (frontend/) under `/`, mounted so that they never shadow an API route.

A plain `app.mount("/", StaticFiles(...))` is a full match for every path and method, so an API
path asked with a method it does not take (`OPTIONS /api/v1/{task}/recognize`,
`DELETE /api/v1/{task}/feedback`) was answered by the static files: 405 with `Allow: GET,
HEAD`, or 404, instead of the route's own 405 with `Allow: POST`. Starlette's router serves the
first full match, else the first partial one; the pages here are only ever a partial match, so a
route whose path fits (added before them) answers first, and every other path still reaches the
pages exactly as before.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.routing import Match, Mount
from starlette.types import Scope


class PagesMount(Mount):
    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        return (Match.PARTIAL if match is Match.FULL else match), child_scope


def mount_pages(app: FastAPI, directory: Path) -> None:
    """Serve `directory` under `/` (index.html for a folder), behind every API route."""
    app.router.routes.append(
        PagesMount("/", app=StaticFiles(directory=directory, html=True), name="frontend")
    )
