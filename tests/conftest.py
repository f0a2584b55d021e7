"""Session-wide real processes: one redis-server, the digit, captcha and meter services, one gateway.

Tests that kill or break a process start their own (see tests/integration/test_faults.py), so
these stay healthy for everyone else.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import processes
from tests.support.processes import RedisServer, UvicornApp


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def digit_backend() -> Iterator[UvicornApp]:
    service = processes.digit_service()
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def captcha_backend() -> Iterator[UvicornApp]:
    service = processes.captcha_service()
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def meter_backend() -> Iterator[UvicornApp]:
    service = processes.meter_service()
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def gateway_app(
    digit_backend: UvicornApp,
    captcha_backend: UvicornApp,
    meter_backend: UvicornApp,
    redis_server: RedisServer,
) -> Iterator[UvicornApp]:
    app = processes.gateway(
        digit_backend.url, redis_server.url, captcha_url=captcha_backend.url, meter_url=meter_backend.url
    )
    app.start()
    yield app
    app.stop()


@pytest.fixture(scope="session")
def gateway(gateway_app: UvicornApp) -> UvicornApp:
    """The running gateway (Redis, digit, captcha and meter services behind it); `.url` is its base URL."""
    return gateway_app
