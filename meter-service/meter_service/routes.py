"""Routes only the meter service has, built on its `RecognitionService`.

* `POST /recognize`   the seed project's API: multipart `file` ->
                      `{"code": 0, "message": "ok", "imgCrop": <base64 PNG>, "resStr": "02572"}`,
                      or `{"code": 1, "message": ...}` when the image cannot be read
* `GET  /v1/demo`     a zip of sample meter photos and window crops, with a README.txt of their
                      true readings (the page's "download samples")

The seed's clients test `code`, not the HTTP status, so a problem with the upload (not an
image, unreadable, no counter window, a bad option) answers HTTP 200 with code 1 as the seed
did. A problem on our side (models still loading, overloaded) keeps its 503 and Retry-After, so
retrying clients and load balancers still see it; the body has the seed's shape all the same.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from meter_service.config import MeterSettings
from recognition_common.edge import errors
from recognition_common.edge.errors import ApiError
from recognition_common.edge.intake import read_image_upload
from recognition_common.serving.service import RecognitionService

DEMO_SUFFIXES = {".jpg", ".jpeg", ".png"}
DEMO_README = "README.txt"
DEMO_FILENAME = "meter-demo.zip"


def meter_router(service: RecognitionService[MeterSettings]) -> APIRouter:
    """The meter service's own routes, recognizing through `service` as `/v1/recognize` does."""
    demo_dir = service.settings.demo_dir
    router = APIRouter()

    @router.post("/recognize", summary="Seed-compatible recognize: multipart file -> {code, imgCrop, resStr}")
    async def seed_recognize(request: Request) -> JSONResponse:
        try:
            upload = await read_image_upload(request)
            _, result = await service.recognize(upload.data, upload.model, upload.options)
        except ApiError as exc:
            status = exc.status if exc.status >= 500 else 200
            return JSONResponse({"code": 1, "message": exc.message}, status_code=status, headers=exc.headers)
        return JSONResponse(
            {"code": 0, "message": "ok", "imgCrop": result["crop_png_base64"], "resStr": result["text"]}
        )

    @router.get("/v1/demo", summary="Sample meter images (zip) with their true readings in README.txt")
    async def demo() -> Response:
        return demo_zip(demo_dir)

    return router


def demo_zip(folder: Path) -> Response:
    """The demo images in `folder` and their README, zipped; 404 when there are none."""
    files = sorted(
        path
        for path in (folder.iterdir() if folder.is_dir() else ())
        if path.is_file() and (path.suffix.lower() in DEMO_SUFFIXES or path.name == DEMO_README)
    )
    if not any(path.suffix.lower() in DEMO_SUFFIXES for path in files):
        raise ApiError(404, errors.NOT_FOUND, "no demo images on this server")
    buffer = io.BytesIO()
    # JPEGs and PNGs are compressed already: stored, not deflated again.
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for path in files:
            archive.write(path, f"meter-demo/{path.name}")
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{DEMO_FILENAME}"',
            "Cache-Control": "max-age=3600",
        },
    )
