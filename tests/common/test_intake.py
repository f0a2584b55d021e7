"""Request intake through a real ASGI app (TestClient), the same code every endpoint uses."""

import base64
import json

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from recognition_common.edge.errors import install_error_handlers
from recognition_common.edge.intake import (
    BodyLimitMiddleware,
    body_limit,
    decode_base64,
    megabytes,
    read_image_upload,
)

IMAGE = b"\x89PNG\r\n\x1a\n-not-really-but-intake-does-not-decode"
UPLOAD_LIMIT = 104_858  # 0.1 MB
BODY_LIMIT = body_limit(UPLOAD_LIMIT)


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_upload_bytes=UPLOAD_LIMIT)

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        upload = await read_image_upload(request)
        return {
            "size": len(upload.data),
            "model": upload.model,
            "head": upload.data[:8].hex(),
            "options": upload.options,
        }

    return TestClient(app)


def test_multipart_with_model_field(client: TestClient) -> None:
    reply = client.post("/echo", files={"file": ("x.png", IMAGE)}, data={"model": "lenet5"})
    assert reply.status_code == 200
    assert reply.json() == {"size": len(IMAGE), "model": "lenet5", "head": IMAGE[:8].hex(), "options": {}}


def test_query_model_wins_over_form(client: TestClient) -> None:
    reply = client.post("/echo?model=cnn", files={"file": ("x.png", IMAGE)}, data={"model": "lenet5"})
    assert reply.json()["model"] == "cnn"


def test_json_base64_with_data_url(client: TestClient) -> None:
    encoded = "data:image/png;base64," + base64.b64encode(IMAGE).decode()
    reply = client.post("/echo", json={"image_base64": encoded, "model": "cnn"})
    assert reply.status_code == 200
    assert reply.json()["size"] == len(IMAGE) and reply.json()["model"] == "cnn"


def test_raw_body(client: TestClient) -> None:
    reply = client.post("/echo", content=IMAGE, headers={"content-type": "application/octet-stream"})
    assert reply.json()["size"] == len(IMAGE)


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"files": {"image": ("x.png", IMAGE)}}, 400),  # wrong field name
        ({"json": {"image": "AAAA"}}, 400),  # wrong JSON key
        ({"json": {"image_base64": "***not base64***"}}, 400),
        ({"json": [1, 2, 3]}, 400),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400),
        ({"content": json.dumps({"a": [[[[[]]]]]}), "headers": {"content-type": "application/json"}}, 400),
        ({"content": b"[" * 900 + b"]" * 0, "headers": {"content-type": "application/json"}}, 400),
        ({"content": b"hello", "headers": {"content-type": "text/plain"}}, 415),
        ({"content": b"hello", "headers": {"content-type": ""}}, 400),
        ({"content": b"--x\r\nbroken", "headers": {"content-type": "multipart/form-data; boundary=x"}}, 400),
        ({"files": [("file", ("x.png", IMAGE)), ("model", (None, "a")), ("model", (None, "b"))]}, 400),
    ],
    ids=[
        "field",
        "json-key",
        "base64",
        "json-list",
        "json-syntax",
        "json-shape",
        "json-deep",
        "text",
        "no-type",
        "multipart",
        "field-twice",
    ],
)
def test_bad_bodies_get_json_errors(client: TestClient, kwargs: dict, status: int) -> None:
    reply = client.post("/echo", **kwargs)
    assert reply.status_code == status
    body = reply.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}


def test_declared_oversize_body_is_refused_before_reading(client: TestClient) -> None:
    reply = client.post("/echo", content=b"x" * (BODY_LIMIT + 1), headers={"content-type": "image/png"})
    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == "payload_too_large"
    # The limit the operator set, in MB: not the body cap in bytes (a third larger, for base64).
    assert reply.json()["error"]["message"] == "request body too large: images are limited to 0.1 MB"


def test_sizes_are_said_in_megabytes() -> None:
    assert megabytes(10 * 1024 * 1024) == "10 MB"
    assert megabytes(1_500_000) == "1.43 MB"


def test_streamed_oversize_body_is_cut_off(client: TestClient) -> None:
    def chunks():
        for _ in range(50):
            yield b"y" * (BODY_LIMIT // 20)

    reply = client.post("/echo", content=chunks(), headers={"content-type": "image/png"})
    assert reply.status_code == 413


def test_base64_variants() -> None:
    raw = bytes(range(256))
    assert decode_base64(base64.b64encode(raw).decode()) == raw
    assert decode_base64(base64.urlsafe_b64encode(raw).decode().rstrip("=")) == raw
    assert (
        decode_base64("  " + base64.b64encode(raw).decode()[:40] + "\n" + base64.b64encode(raw).decode()[40:])
        == raw
    )


def test_recognizers_never_fetch_image_url(client: TestClient) -> None:
    """Only the gateway fetches, behind its address policy; intake without accept_url says 400."""
    reply = client.post("/echo", json={"image_url": "http://169.254.169.254/latest/meta-data/"})
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "bad_request"
    assert "image_url" in reply.json()["error"]["message"]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"image_url": " https://example.com/a.png ", "model": "cnn"}, ("https://example.com/a.png", "cnn")),
        ({"image_url": 7}, None),
        ({"image_url": ""}, None),
        ({"image_url": "https://example.com/a.png", "image_base64": "AAAA"}, None),
        ({"image_url": "https://example.com/a.png", "model": 3}, None),
    ],
)
def test_the_gateway_gets_image_url_back_unfetched(payload: dict, expected: tuple | None) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        upload = await read_image_upload(request, accept_url=True)
        return {"url": upload.image_url, "model": upload.model, "size": len(upload.data)}

    reply = TestClient(app).post("/echo", json=payload)
    if expected is None:
        assert reply.status_code == 400 and reply.json()["error"]["code"] == "bad_request"
    else:
        assert reply.json() == {"url": expected[0], "model": expected[1], "size": 0}


def test_options_come_from_query_form_and_json(client: TestClient) -> None:
    form = client.post("/echo?wheels=6", files={"file": ("x.png", IMAGE)}, data={"mode": "window"})
    assert form.json()["options"] == {"mode": "window", "wheels": "6"}
    payload = {"image_base64": base64.b64encode(IMAGE).decode(), "previous_value": 12.5, "strict": True}
    body = client.post("/echo?mode=photo", json={**payload, "mode": "window", "model": "m"}).json()
    # JSON numbers and booleans arrive as text; the query string wins, as it does for `model`.
    assert body["options"] == {"previous_value": "12.5", "strict": "true", "mode": "photo"}
    assert body["model"] == "m"


@pytest.mark.parametrize(
    "extra",
    [{"mode": {"nested": 1}}, {"mode": [1, 2]}, {"mode": "x" * 300}, {f"p{i}": i for i in range(17)}],
)
def test_unusable_options_are_refused(client: TestClient, extra: dict) -> None:
    reply = client.post("/echo", json={"image_base64": base64.b64encode(IMAGE).decode(), **extra})
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "bad_request"
