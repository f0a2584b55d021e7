"""Routes only the captcha service has, built on its `RecognitionService`.

* `POST /b`                      the seed project's API: multipart `image_file` ->
                                 `{"time", "value", "speed_time(ms)"}`, so its users keep working
* `GET  /captcha/[?model=]`      a freshly rendered captcha PNG, its text in `X-Captcha-Text`
* `GET  /v1/sample[?model=]`     the same, under the path the gateway's `sample` route forwards to
* `POST /v1/recognize-batch`     several images in one request (multipart `files`, or JSON
                                 `{"images_base64": [...]}`), answered in order
"""

from __future__ import annotations

import asyncio
import io
import secrets
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from captcha_service.card import CaptchaCard
from captcha_service.config import CaptchaSettings
from captcha_service.recognizer import card_charset
from captcha_service.synth import render
from recognition_common.edge import errors
from recognition_common.edge.errors import ApiError, error_body
from recognition_common.edge.intake import decode_base64, json_model, parse_json, read_form, read_image_upload
from recognition_common.serving.responses import json_dumps
from recognition_common.serving.service import RecognitionService


def captcha_router(service: RecognitionService[CaptchaSettings]) -> APIRouter:
    """The captcha service's own routes, recognizing through `service` as `/v1/recognize` does."""
    settings = service.settings
    router = APIRouter()

    @router.post("/b", summary="Seed-compatible recognize: multipart image_file -> {time, value}")
    async def seed_recognize(request: Request) -> JSONResponse:
        started = time.perf_counter()
        upload = await read_image_upload(request, file_field="image_file")
        _, result = await service.recognize(upload.data, upload.model)
        return JSONResponse(
            {
                "time": int(time.time()),
                "value": result["text"],
                "speed_time(ms)": round((time.perf_counter() - started) * 1000, 2),
            }
        )

    @router.get("/captcha/", summary="A new captcha image (PNG); its text in the X-Captcha-Text header")
    @router.get("/v1/sample", summary="A new captcha image (PNG); its text in the X-Captcha-Text header")
    async def new_captcha(model: str | None = None) -> Response:
        return sample(service, model)

    @router.post("/v1/recognize-batch", summary="Recognize several images; results in request order")
    async def recognize_batch(request: Request) -> Response:
        return await recognize_many(service, request, settings.max_batch_images)

    return router


def sample(service: RecognitionService, model: str | None) -> Response:
    """A freshly rendered captcha for `model`, its text and model in headers."""
    card = service.registry.get(model).card
    assert isinstance(card, CaptchaCard)
    charset = card_charset(card)
    length = card.min_length + secrets.randbelow(card.longest - card.min_length + 1)
    text = "".join(secrets.choice(charset) for _ in range(length))
    buffer = io.BytesIO()
    render(text, card.width, card.height).save(buffer, "PNG")
    return Response(
        buffer.getvalue(),
        media_type="image/png",
        headers={"X-Captcha-Text": text, "X-Captcha-Model": card.name, "Cache-Control": "no-store"},
    )


async def recognize_many(service: RecognitionService, request: Request, max_images: int) -> Response:
    """The batch endpoint: every image through `service` at once, results in request order."""
    images, model = await _read_batch(request, max_images)
    served = service.registry.get(model)  # unknown model: one 404, not N
    name = served.card.name

    async def one(data: bytes | str) -> Any:
        if isinstance(data, str):  # base64: not valid base64 is this image's own error, like any other
            data = decode_base64(data)
        return await service.recognize(data, name)

    # All images go to the batcher at once, so they share forward passes.
    outcomes = await asyncio.gather(*(one(data) for data in images), return_exceptions=True)
    results: list[dict[str, Any]] = []
    for outcome in outcomes:
        if isinstance(outcome, ApiError):
            results.append({"status": outcome.status, **error_body(outcome.code, outcome.message)})
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            results.append({"status": 200, "result": outcome[1]})
    body = {
        "model": served.reference(),  # with its files' fingerprint, like every answer
        "preprocess_version": service.preprocess_version,
        "results": results,
    }
    return Response(json_dumps(body), media_type="application/json")


async def _read_batch(request: Request, max_images: int) -> tuple[list[bytes | str], str | None]:
    """The images (bytes, or base64 text still to decode) and model of a batch request, or a
    4xx `ApiError` for the request as a whole.

    Base64 is decoded per image when it is recognized, so one that is not valid gets its own
    entry in `results`, as an unreadable image would.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    model = request.query_params.get("model") or None
    if content_type == "multipart/form-data":
        form = await read_form(request, max_files=max_images, max_fields=8)
        uploads = [item for item in form.getlist("files") if isinstance(item, UploadFile)]
        images: list[bytes | str] = [await upload.read() for upload in uploads]
        field = form.get("model")
        model = model or (field if isinstance(field, str) and field else None)
    elif content_type == "application/json":
        payload = parse_json(await request.body())
        encoded = payload.get("images_base64") if isinstance(payload, dict) else None
        if not isinstance(encoded, list) or not all(isinstance(item, str) for item in encoded):
            raise ApiError(400, errors.BAD_REQUEST, "JSON body needs images_base64: a list of strings")
        if len(encoded) > max_images:
            raise ApiError(413, errors.PAYLOAD_TOO_LARGE, f"at most {max_images} images per batch")
        images = list(encoded)
        model = model or json_model(payload) or None
    else:
        raise ApiError(
            400, errors.BAD_REQUEST, "send multipart field 'files' (repeated) or JSON images_base64"
        )
    if not images:
        raise ApiError(
            400, errors.BAD_REQUEST, "no images: send multipart field 'files' or JSON images_base64"
        )
    return images, model
