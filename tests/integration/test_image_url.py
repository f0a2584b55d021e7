"""JSON `{"image_url": ...}` through real processes: gateway -> local image server, digit service.

The session gateway runs with the defaults, so it must refuse the loopback image server; a second
gateway with GATEWAY_URL_ALLOW_PRIVATE=true (the tests-and-intranets switch), an allow-list of
127.0.0.1, a small size cap and a 1 s deadline shows the rest of the policy against real sockets.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.test_api import unique_png
from tests.support import processes
from tests.support.assertions import assert_error
from tests.support.image_server import ImageServer
from tests.support.processes import RedisServer, UvicornApp

MAX_BYTES = 200_000


@pytest.fixture(scope="module")
def image_server() -> Iterator[ImageServer]:
    with ImageServer(unique_png("7"), big_bytes=2_000_000) as server:
        yield server


@pytest.fixture(scope="module")
def permissive(digit_backend: UvicornApp, redis_server: RedisServer) -> Iterator[httpx.Client]:
    app = processes.gateway(
        digit_backend.url,
        redis_server.url,
        env={
            "GATEWAY_URL_ALLOW_PRIVATE": "true",
            "GATEWAY_URL_ALLOWED_HOSTS": "127.0.0.1",
            "GATEWAY_URL_MAX_BYTES": str(MAX_BYTES),
            "GATEWAY_URL_TIMEOUT_S": "1",
        },
    )
    app.start()
    try:
        with httpx.Client(base_url=app.url, timeout=30) as client:
            yield client
    finally:
        app.stop()


@pytest.fixture(scope="module")
def default(gateway: UvicornApp) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        yield client


def by_url(client: httpx.Client, url: str, **extra: str) -> httpx.Response:
    return client.post("/api/v1/digit/recognize", json={"image_url": url, **extra})


def test_an_image_url_is_fetched_recognized_and_cached(
    permissive: httpx.Client, image_server: ImageServer
) -> None:
    first = by_url(permissive, image_server.url("/image.png"), model="cnn")
    assert first.status_code == 200, first.text
    assert first.json()["result"]["text"] == "7" and first.json()["model"]["name"] == "cnn"
    assert first.headers["x-cache"] == "MISS"
    # The fetched bytes are an upload like any other: the same cache entry serves both.
    second = permissive.post(
        "/api/v1/digit/recognize", files={"file": ("d.png", image_server.image, "image/png")}
    )
    assert second.headers["x-cache"] == "HIT"


def test_the_default_gateway_refuses_a_real_loopback_server(
    default: httpx.Client, image_server: ImageServer
) -> None:
    before = len(image_server.hits)
    for host in ("127.0.0.1", "localhost", "[::ffff:127.0.0.1]"):
        assert_error(by_url(default, image_server.url("/image.png", host=host)), 400, "url_refused")
    assert_error(by_url(default, "http://169.254.169.254/latest/meta-data/"), 400, "url_refused")
    assert len(image_server.hits) == before  # never contacted


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/a.png",
        "gopher://127.0.0.1:6379/_INFO",
        "data:image/png;base64,AAAA",
    ],
)
def test_non_http_schemes_are_bad_requests(permissive: httpx.Client, url: str) -> None:
    assert_error(by_url(permissive, url), 400, "bad_request")


def test_redirects_two_followed_four_refused(permissive: httpx.Client, image_server: ImageServer) -> None:
    assert by_url(permissive, image_server.url("/hops/2")).status_code == 200
    assert_error(by_url(permissive, image_server.url("/hops/4")), 400, "url_refused")


def test_the_allow_list_is_enforced_on_every_hop(permissive: httpx.Client, image_server: ImageServer) -> None:
    before = len(image_server.hits)
    assert_error(by_url(permissive, image_server.url("/image.png", host="localhost")), 400, "url_refused")
    assert len(image_server.hits) == before
    hop = image_server.url("/to?url=http://169.254.169.254/latest/meta-data/")
    assert_error(by_url(permissive, hop), 400, "url_refused")  # first hop allowed, second not


def test_an_oversized_body_is_cut_at_the_cap(permissive: httpx.Client, image_server: ImageServer) -> None:
    for path in ("/big", "/big-declared"):
        assert_error(by_url(permissive, image_server.url(path)), 413, "payload_too_large")


def test_slow_and_hanging_servers_hit_the_deadline(
    permissive: httpx.Client, image_server: ImageServer
) -> None:
    for path in ("/slow", "/hang"):
        started = time.monotonic()
        assert_error(by_url(permissive, image_server.url(path)), 422, "url_unreachable")
        assert time.monotonic() - started < 3


def test_content_decides_not_the_remote_content_type(
    permissive: httpx.Client, image_server: ImageServer
) -> None:
    assert_error(by_url(permissive, image_server.url("/fake.png")), 415, "unsupported_media_type")
    assert_error(by_url(permissive, image_server.url("/status/404")), 422, "url_unreachable")


def test_the_recognizer_itself_never_fetches(digit_backend: UvicornApp, image_server: ImageServer) -> None:
    before = len(image_server.hits)
    reply = httpx.post(
        digit_backend.url + "/v1/recognize", json={"image_url": image_server.url("/image.png")}
    )
    assert_error(reply, 400, "bad_request")
    assert len(image_server.hits) == before
