"""Reading an image out of an HTTP request, the same way in the gateway and in every service.

Accepted bodies (all endpoints that take an image):

* `multipart/form-data` with the image in field `file` (and optionally `model`);
* `application/json` `{"image_base64": "...", "model": "..."}` (a `data:` URL prefix is allowed);
  at the gateway also `{"image_url": "https://...", "model": "..."}`: the URL is handed back in
  `ImageUpload.image_url` for the gateway to fetch (gateway/fetch.py). The recognizers never
  fetch anything: they read with `accept_url=False` and answer 400 to an `image_url`;
* a raw image body (`image/*` or `application/octet-stream`), which the gateway uses to forward.

`model` may also come as a query parameter. Any other short scalar parameter (query, form field
or JSON member, e.g. a task's `mode`) is collected in
`ImageUpload.options`; which of them matter is the recognizer's business (`Recognizer.options`),
and the gateway forwards and caches by exactly those. Oversized bodies are stopped by `BodyLimitMiddleware`
while they stream in, before they are buffered.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recognition_common.edge import errors
from recognition_common.edge.errors import ApiError, send_error

# Multipart limits: one image and a few small fields is all any endpoint takes.
MAX_FORM_FILES = 1
MAX_FORM_FIELDS = 8
_RAW_TYPES = ("application/octet-stream",)
# Parameters that are not options: the image itself and the model choice.
_RESERVED = frozenset({"model", "file", "image_base64", "image_url"})
MAX_OPTIONS = 16
MAX_OPTION_LENGTH = 200


@dataclass(frozen=True)
class ImageUpload:
    data: bytes
    model: str | None
    image_url: str | None = None  # set (and `data` empty) only with `accept_url=True`
    options: dict[str, str] = field(default_factory=dict)  # other scalar parameters, as text


async def read_image_upload(
    request: Request, file_field: str = "file", *, accept_url: bool = False
) -> ImageUpload:
    """The image bytes and requested model of a recognize request, or a 4xx `ApiError`.

    With `accept_url`, a JSON `image_url` comes back unfetched in `ImageUpload.image_url`.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    model = request.query_params.get("model") or None
    query_options = _options(request.query_params.items())
    if content_type == "multipart/form-data":
        upload = await _from_multipart(request, file_field, model)
    elif content_type == "application/json":
        upload = _from_json(await request.body(), model, accept_url)
    elif content_type in _RAW_TYPES or content_type.startswith("image/"):
        upload = ImageUpload(data=await request.body(), model=model)
    else:
        upload = None
    if upload is not None:
        # As with `model`, the query string wins over the body.
        return replace(upload, options={**upload.options, **query_options}) if query_options else upload
    if not content_type:
        raise ApiError(
            400,
            errors.BAD_REQUEST,
            f"send the image as multipart field '{file_field}', as JSON image_base64, "
            "or as a raw image body with its Content-Type",
        )
    raise ApiError(415, errors.UNSUPPORTED_MEDIA_TYPE, f"unsupported Content-Type {content_type!r}")


async def read_form(request: Request, max_files: int, max_fields: int) -> FormData:
    """The request's multipart form, or 400 for a malformed body (the body's own 413 and 408
    pass through). The caller closes its files."""
    try:
        return await request.form(max_files=max_files, max_fields=max_fields)
    except ApiError:  # raised while the body streams in: too large (413), too slow (408)
        raise
    except Exception as exc:  # python-multipart raises several types for malformed bodies
        detail = getattr(exc, "detail", None) or exc  # starlette's own: its message, not "400: ..."
        raise ApiError(400, errors.BAD_REQUEST, f"malformed multipart body: {detail}") from exc


def parse_json(body: bytes) -> Any:
    """A JSON body, or 400."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested thousands deep
        raise ApiError(400, errors.BAD_REQUEST, "the body is not valid JSON") from exc


async def _from_multipart(request: Request, file_field: str, model: str | None) -> ImageUpload:
    form = await read_form(request, MAX_FORM_FILES, MAX_FORM_FIELDS)
    try:
        upload = form.get(file_field)
        if not isinstance(upload, UploadFile):
            raise ApiError(
                400, errors.BAD_REQUEST, f"multipart field '{file_field}' with the image is missing"
            )
        # Read and close synchronously: the part sits in memory (or, above 1 MB, in a local temp
        # file), and a thread hop per call costs more than the read itself.
        data = upload.file.read()
        form_model = form.get("model")
        if isinstance(form_model, str) and form_model:
            model = model or form_model
        fields = [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
        names = [name for name, _ in fields]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:  # which one would count? Say so rather than pick one.
            raise ApiError(
                400, errors.BAD_REQUEST, f"multipart field {repeated[0][:40]!r} sent more than once"
            )
        return ImageUpload(data=data, model=model, options=_options(fields))
    finally:
        for _, value in form.multi_items():
            if isinstance(value, UploadFile):
                value.file.close()


def _from_json(body: bytes, model: str | None, accept_url: bool = False) -> ImageUpload:
    payload = parse_json(body)
    if isinstance(payload, dict) and "image_url" in payload:
        return _url_upload(payload, model, accept_url)
    if not isinstance(payload, dict) or not isinstance(payload.get("image_base64"), str):
        raise ApiError(400, errors.BAD_REQUEST, "JSON body must be an object with 'image_base64'")
    return ImageUpload(
        data=decode_base64(payload["image_base64"]),
        model=model or json_model(payload) or None,
        options=_options(payload.items()),
    )


def _url_upload(payload: dict, model: str | None, accept_url: bool) -> ImageUpload:
    if not accept_url:
        # Fetching is the gateway's job, behind its address policy; a recognizer must never do it.
        raise ApiError(400, errors.BAD_REQUEST, "this endpoint does not fetch image_url; send image_base64")
    if "image_base64" in payload:
        raise ApiError(400, errors.BAD_REQUEST, "send either 'image_base64' or 'image_url', not both")
    url = payload["image_url"]
    if not isinstance(url, str) or not url.strip():
        raise ApiError(400, errors.BAD_REQUEST, "'image_url' must be a non-empty string")
    return ImageUpload(
        data=b"",
        model=model or json_model(payload) or None,
        image_url=url.strip(),
        options=_options(payload.items()),
    )


def _options(items: Iterable[tuple[str, object]]) -> dict[str, str]:
    """Short scalar parameters other than the image and model, as text (JSON numbers included).

    Anything else (objects, lists, long strings, too many names) is refused with 400 rather
    than dropped, so a client learns its parameter was not understood as sent.
    """
    options: dict[str, str] = {}
    for name, value in items:
        if name in _RESERVED:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str | int | float):
            text = str(value)
        elif value is None:
            continue
        else:
            raise ApiError(400, errors.BAD_REQUEST, f"parameter {name!r} must be a string or a number")
        if len(name) > MAX_OPTION_LENGTH or len(text) > MAX_OPTION_LENGTH:
            raise ApiError(400, errors.BAD_REQUEST, f"parameter {name[:40]!r} is too long")
        options[name] = text
    if len(options) > MAX_OPTIONS:
        raise ApiError(400, errors.BAD_REQUEST, f"at most {MAX_OPTIONS} parameters")
    return options


def json_model(payload: dict) -> str | None:
    """A JSON body's `model`: a string or absent, otherwise 400."""
    json_model = payload.get("model")
    if json_model is not None and not isinstance(json_model, str):
        raise ApiError(400, errors.BAD_REQUEST, "'model' must be a string")
    return json_model


def decode_base64(text: str) -> bytes:
    """Strict base64 (standard or URL-safe alphabet), with an optional `data:...;base64,` prefix."""
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    text = "".join(text.split())
    if "-" in text or "_" in text:
        text = text.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(400, errors.BAD_REQUEST, "image_base64 is not valid base64") from exc


def body_limit(max_image_bytes: int) -> int:
    """The request-body cap for an image limit: base64 JSON is a third larger than the image it
    carries, plus room for multipart headers and fields. The image limit itself is checked after."""
    return max_image_bytes * 4 // 3 + 65536


def megabytes(size: int) -> str:
    """A byte count as the MB a person set it in: 10485760 -> "10 MB", 1500000 -> "1.43 MB"."""
    return f"{size / 2**20:.3g} MB"


class BodyTooLarge(ApiError):
    def __init__(self, max_upload_bytes: int) -> None:
        super().__init__(
            413,
            errors.PAYLOAD_TOO_LARGE,
            f"request body too large: images are limited to {megabytes(max_upload_bytes)}",
        )


class BodyLimitMiddleware:
    """Refuse request bodies over `body_limit(max_upload_bytes)`: by Content-Length up front,
    else mid-stream. The error names the upload limit the operator set, in MB (the body cap
    itself is larger, by base64's third and the multipart headers).

    Counting in `receive` means a chunked upload without a length is cut off as soon as it passes
    the limit instead of being buffered whole.
    """

    def __init__(self, app: ASGIApp, max_upload_bytes: int) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.max_body_bytes = body_limit(max_upload_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > limit:
                    await send_error(send, BodyTooLarge(self.max_upload_bytes), close=True)
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(self.max_upload_bytes)
            return message

        await self.app(scope, limited_receive, send)
