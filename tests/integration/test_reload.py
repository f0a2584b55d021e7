"""Model hot reload with real processes: a served model's file replaced (same card, same version)
and reloaded under load, through the gateway and its cache; SIGHUP; a corrupt file refused.

The in-process details (drain, components, tokens, all-or-nothing) are in tests/common/test_reload.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from digit_service.config import DigitSettings
from digit_service.synth import draw_number
from recognition_common.serving.model_card import read_card, write_card
from recognition_common.serving.models import fingerprint
from tests.support import processes
from tests.support.images import digit_png, encode
from tests.support.load import BackgroundLoad, fresh_digit_png, summary, with_nonce
from tests.support.processes import RedisServer, UvicornApp, wait_until

pytestmark = pytest.mark.slow

SHIPPED = DigitSettings().model_dir


def replace_model_file(model_dir: Path, source: Path) -> None:
    """As an operator should: copy beside, then rename over the served file (atomic)."""
    staging = model_dir / "model.keras.new"
    shutil.copyfile(source, staging)
    os.replace(staging, model_dir / "model.keras")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("digit-models")
    for name in ("cnn", "lenet5"):
        shutil.copytree(SHIPPED / name, root / name)
    return root


@pytest.fixture(scope="module")
def stack(model_dir: Path, redis_server: RedisServer) -> Iterator[tuple[UvicornApp, UvicornApp]]:
    service = processes.digit_service(env={"DIGIT_MODEL_DIR": str(model_dir)})
    service.start()
    gateway = processes.gateway(service.url, redis_server.url)
    gateway.start()
    yield service, gateway
    gateway.stop()
    service.stop()


def recognize(url: str, data: bytes, **params: str) -> httpx.Response:
    reply = httpx.post(url, params=params, files={"file": ("d.png", data)}, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply


def telling_image(service_url: str) -> bytes:
    """A scrawled digit on which the two models' answers differ (most clean digits get 1.0 from both)."""
    for seed in range(200):
        data = encode(draw_number(str(seed % 10), width=4 + seed % 7, jitter=0.35, seed=seed))
        answers = [
            recognize(service_url + "/v1/recognize", data, model=name).json()["result"]
            for name in ("cnn", "lenet5")
        ]
        if answers[0] != answers[1]:
            return data
    raise AssertionError("no image tells cnn and lenet5 apart")


class ReadyPoller:
    """Polls a /readyz as fast as it answers, from a thread, until stopped; keeps every status."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> ReadyPoller:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _poll(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                try:
                    self.statuses.append(client.get(self.url).status_code)
                except httpx.HTTPError:
                    self.statuses.append(0)
                self._stop.wait(0.02)


def test_replaced_model_reloads_under_load_and_the_cache_never_serves_the_old_answers(
    stack: tuple[UvicornApp, UvicornApp], model_dir: Path
) -> None:
    service, gateway = stack
    api = gateway.url + "/api/v1/digit/recognize"
    cnn = model_dir / "cnn"
    original = fingerprint(cnn)
    image = telling_image(service.url)  # the image this test follows through the cache
    image = with_nonce(image, uuid.uuid4().hex)
    first = recognize(api, image)
    assert first.headers["x-cache"] == "MISS" and first.json()["model"]["fingerprint"] == original
    assert recognize(api, image).headers["x-cache"] == "HIT"

    def traffic(client: httpx.Client, n: int) -> httpx.Response:
        # Half new images (to the model), half repeats (from the cache).
        data = digit_png(str(n % 10)) if n % 2 else fresh_digit_png(str(n % 10))
        return client.post("/api/v1/digit/recognize", files={"file": ("d.png", data)})

    with (
        ReadyPoller(service.url + "/readyz") as service_ready,
        ReadyPoller(gateway.url + "/readyz") as gateway_ready,
        BackgroundLoad(gateway.url, traffic, clients=4, tag="digit") as load,
    ):
        load.wait_for(20)
        replace_model_file(cnn, SHIPPED / "lenet5" / "model.keras")  # cnn's card, lenet5's weights
        reply = httpx.post(service.url + "/v1/admin/reload", timeout=120)
        assert reply.status_code == 200, reply.text
        swapped = fingerprint(cnn)
        assert reply.json()["reloaded"] == ["cnn"] and reply.json()["unchanged"] == ["lenet5"]
        version = read_card(cnn).version
        assert reply.json()["models"]["cnn"] == {"version": version, "fingerprint": swapped}
        load.wait_for(20)

        # The followed image: the gateway learns of the new model from the first answer that
        # names it (or its catalogue's expiry), then never answers from the old model's entries.
        recognize(api, fresh_digit_png("8"))
        after = recognize(api, image)
        assert after.headers["x-cache"] == "MISS"
        assert after.json()["model"] == {"name": "cnn", "version": version, "fingerprint": swapped}
        lenet5 = recognize(service.url + "/v1/recognize", image, model="lenet5").json()

        # lenet5's weights answer, calibrated with the temperature of the card they are served
        # under (cnn's), which keeps the order of the ten probabilities.
        def ranking(result: dict) -> list[int]:
            probabilities = result["digits"][0]["probabilities"]
            return sorted(range(10), key=lambda digit: -probabilities[digit])[:3]

        assert after.json()["result"]["text"] == lenet5["result"]["text"]
        assert ranking(after.json()["result"]) == ranking(lenet5["result"])
        assert after.json()["result"] != first.json()["result"]
        assert recognize(api, image).headers["x-cache"] == "HIT"

        # The original file back: the original fingerprint, and its cache entries are good again.
        replace_model_file(cnn, SHIPPED / "cnn" / "model.keras")
        assert httpx.post(service.url + "/v1/admin/reload", timeout=120).json()["reloaded"] == ["cnn"]
        load.wait_for(20)
    assert fingerprint(cnn) == original
    assert not load.failures(), summary(load.outcomes)
    assert len(service_ready.statuses) > 20 and set(service_ready.statuses) == {200}
    assert set(gateway_ready.statuses) == {200}
    recognize(api, fresh_digit_png("8"))
    back = recognize(api, image)
    assert back.json()["model"]["fingerprint"] == original and back.json()["result"] == first.json()["result"]
    # The replaced models drained.
    wait_until(lambda: not httpx.get(service.url + "/readyz").json()["retiring"], 30, interval_s=0.1)


def test_sighup_reloads_and_a_corrupt_file_is_refused(
    stack: tuple[UvicornApp, UvicornApp], model_dir: Path
) -> None:
    service, _ = stack
    lenet5 = model_dir / "lenet5"
    before = fingerprint(lenet5)

    def served_print() -> str:
        models = httpx.get(service.url + "/v1/models").json()["models"]
        return next(card["fingerprint"] for card in models if card["name"] == "lenet5")

    assert served_print() == before
    (lenet5 / "model.keras.new").write_bytes(os.urandom(4096))
    os.replace(lenet5 / "model.keras.new", lenet5 / "model.keras")
    logged = service.log_path.stat().st_size
    os.kill(service.pid, signal.SIGHUP)

    def new_log() -> str:
        return service.log_path.read_bytes()[logged:].decode(errors="replace")

    wait_until(lambda: "model reload refused" in new_log(), 60, new_log, interval_s=0.2)
    assert "lenet5" in new_log().split("model reload refused")[-1]
    assert service.running and served_print() == before
    data = fresh_digit_png("6")
    assert recognize(service.url + "/v1/recognize", data, model="lenet5").json()["result"]["text"] == "6"

    replace_model_file(lenet5, SHIPPED / "lenet5" / "model.keras")
    card = read_card(lenet5)
    bumped = f"{card.version}-reloaded"
    write_card(lenet5, card.model_copy(update={"version": bumped}))
    os.kill(service.pid, signal.SIGHUP)
    wait_until(lambda: served_print() != before, 60, service.log_tail, interval_s=0.2)
    assert served_print() == fingerprint(lenet5)
    reply = recognize(service.url + "/v1/recognize", data, model="lenet5").json()
    assert reply["model"]["version"] == bumped and reply["result"]["text"] == "6"


def test_the_gateway_does_not_expose_reloading(stack: tuple[UvicornApp, UvicornApp]) -> None:
    _, gateway = stack
    for path in ("/v1/admin/reload", "/api/v1/admin/reload", "/api/v1/digit/admin/reload"):
        assert httpx.post(gateway.url + path).status_code in (404, 405)
