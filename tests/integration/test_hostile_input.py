"""Hostile and odd input (tests/support/hostile.py) against the gateway and each recognizer directly.

Every case must get exactly its documented answer: the status and error code of the README's error
table in the one JSON error shape, or for a valid image the text read. Never a 5xx, never a stack
trace. Afterwards each process must still be up and answering, with its memory where it was.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support.hostile import SAMPLES, STACK_TRACE_MARKERS, Case, Expect, corpus, multipart
from tests.support.images import encode
from tests.support.processes import SERVICES, UvicornApp, rss_mb


@dataclass(frozen=True)
class Target:
    name: str
    fixture: str  # the session fixture of the process that receives the request
    path: str
    task: str


TARGETS = [
    *(Target(f"gateway-{task}", "gateway", f"/api/v1/{task}/recognize", task) for task in SERVICES),
    *(Target(f"{task}-service", f"{task}_backend", "/v1/recognize", task) for task in SERVICES),
]
CORPUS = {task: corpus(task) for task in SERVICES}

# Memory: the whole corpus is sent once to warm up (allocator pools, caches, lazily imported
# codecs), then ROUNDS more times; the process's resident memory may grow by at most this much.
# A leak of anything a request allocates in full (the 11 MB upload, the 36-megapixel image of
# the 16 KB PNG) would pass the bound within the rounds.
ROUNDS = 2
MAX_RSS_GROWTH_MB = 30


@pytest.fixture(scope="module")
def clients() -> Iterator[dict[str, httpx.Client]]:
    opened: dict[str, httpx.Client] = {}
    yield opened
    for client in opened.values():
        client.close()


def app_of(request: pytest.FixtureRequest, target: Target) -> UvicornApp:
    return request.getfixturevalue(target.fixture)


def client_for(app: UvicornApp, clients: dict[str, httpx.Client]) -> httpx.Client:
    if app.url not in clients:
        clients[app.url] = httpx.Client(base_url=app.url, timeout=60)
    return clients[app.url]


def send(client: httpx.Client, target: Target, case: Case) -> httpx.Response:
    return client.post(target.path, **case.send.kwargs())


def check(reply: httpx.Response, expect: Expect) -> None:
    """`reply` is exactly what `expect` says, in the platform's JSON shape, with no internals."""
    where = f"{reply.status_code} {reply.text[:300]}"
    assert not any(marker in reply.text for marker in STACK_TRACE_MARKERS), where
    assert reply.status_code < 500, where
    assert reply.headers.get("content-type", "").startswith("application/json"), where
    body = reply.json()
    assert reply.status_code == expect.status, where
    if expect.status >= 400:
        assert set(body) == {"error"}, where
        assert set(body["error"]) == {"code", "message"}, where
        assert body["error"]["code"] == expect.code, where
        assert isinstance(body["error"]["message"], str) and body["error"]["message"], where
        return
    result = body["result"]
    if expect.text is not None:
        assert result["text"] == expect.text, where
    if expect.rejected is not None:
        assert result["rejected"] is expect.rejected, where
        if expect.rejected:
            assert result["reject_reason"], where


@pytest.mark.parametrize(
    ("target", "case"),
    [(target, case) for target in TARGETS for case in CORPUS[target.task]],
    ids=lambda value: value.name,
)
def test_hostile_input_gets_its_documented_answer(
    request: pytest.FixtureRequest, clients: dict[str, httpx.Client], target: Target, case: Case
) -> None:
    client = client_for(app_of(request, target), clients)
    check(send(client, target, case), case.expect)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("target", TARGETS, ids=lambda target: target.name)
def test_wrong_method_gets_405_naming_the_right_one(
    request: pytest.FixtureRequest, clients: dict[str, httpx.Client], target: Target, method: str
) -> None:
    # At the gateway the pages under `/` once answered these instead: `Allow: GET, HEAD`, or 404.
    client = client_for(app_of(request, target), clients)
    reply = client.request(method, target.path, content=b"x")
    check(reply, Expect(405, "method_not_allowed"))
    assert reply.headers["allow"] == "POST"


@pytest.mark.parametrize("target", TARGETS, ids=lambda target: target.name)
def test_process_stays_up_with_bounded_memory(
    request: pytest.FixtureRequest, clients: dict[str, httpx.Client], target: Target
) -> None:
    app = app_of(request, target)
    assert app.process is not None
    client = client_for(app, clients)
    cases = CORPUS[target.task]

    def send_corpus() -> None:
        for case in cases:
            assert send(client, target, case).status_code < 500, case.name

    send_corpus()
    before = rss_mb([app.process.pid])
    started = time.monotonic()
    for _ in range(ROUNDS):
        send_corpus()
    after = rss_mb([app.process.pid])
    elapsed = time.monotonic() - started
    assert after - before < MAX_RSS_GROWTH_MB, (
        f"{target.name}: resident memory {before:.0f} MB -> {after:.0f} MB after "
        f"{ROUNDS} x {len(cases)} hostile requests ({elapsed:.1f} s)"
    )

    assert app.running, app.log_tail()
    assert client.get("/healthz").json() == {"status": "ok"}
    if target.task in SAMPLES:  # and it still does its job
        sample = SAMPLES[target.task]
        reply = send(client, target, Case("after", multipart(encode(sample.image())), Expect(200)))
        check(reply, Expect(200, text=sample.text, rejected=False))
