"""Corrections through real processes: gateway -> recognizers for the labels' rules, a shared
folder for the corrections, API keys on a second pair of gateways that write into one folder."""

from __future__ import annotations

import base64
import csv
import io
import tempfile
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support import processes
from tests.support.assertions import assert_error
from tests.support.images import captcha_png, encode, png_bomb, salted
from tests.support.processes import RedisServer, UvicornApp

KEY = "feedback-key-0123456789"


def fresh_digit(text: str, salt: int) -> bytes:
    """A drawing of `text` whose bytes no other test sent."""
    from digit_service.synth import draw_number

    return encode(salted(draw_number(text), salt))


def correct(client: httpx.Client, task: str, image: bytes, **fields: str) -> httpx.Response:
    return client.post(f"/api/v1/{task}/feedback", files={"file": ("x.png", image, "image/png")}, data=fields)


def export(client: httpx.Client, task: str) -> tuple[set[str], list[dict[str, str]]]:
    reply = client.get(f"/api/v1/{task}/feedback/export")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(reply.content)) as archive:
        manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
        return set(archive.namelist()), manifest


@pytest.fixture(scope="module")
def client(gateway: UvicornApp) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=30) as session:
        yield session


def test_corrections_appear_in_the_export_with_their_labels(client: httpx.Client) -> None:
    seven = fresh_digit("7", 1)
    reply = correct(client, "digit", seven, text="1", model="cnn", request_id="req-1")
    assert reply.status_code == 201, reply.text
    stored = reply.json()
    assert stored["stored"] is True and stored["duplicate"] is False and stored["conflict"] is False
    assert stored["task"] == "digit" and stored["text"] == "1" and stored["model"] == "cnn"
    assert stored["corrections_for_model"] >= 1
    # JSON and base64, the same contract as a recognition; the same image and label: a duplicate.
    again = client.post(
        "/api/v1/digit/feedback", json={"image_base64": base64.b64encode(seven).decode(), "text": "1"}
    )
    assert again.status_code == 201 and again.json()["duplicate"] is True
    assert again.json()["id"] == stored["id"]
    # The same image with another label: kept, and marked.
    other = correct(client, "digit", seven, text="7")
    assert other.status_code == 201 and other.json()["conflict"] is True
    row = correct(client, "digit", fresh_digit("2024", 2), text="2024")
    captcha = correct(client, "captcha", captcha_png("ab12", seed=9), text="ab12")
    assert row.status_code == 201 and captcha.status_code == 201, captcha.text

    names, manifest = export(client, "digit")
    by_id = {entry["id"]: entry for entry in manifest}
    assert by_id[stored["id"]]["label"] == "1" and by_id[stored["id"]]["request_id"] == "req-1"
    assert f"1/{stored['id']}.png" in names and f"7/{other.json()['id']}.png" in names
    assert f"2024_{row.json()['id']}.png" in names
    assert by_id[stored["id"]]["conflict"] == "yes"
    captcha_names, _ = export(client, "captcha")
    assert f"ab12_{captcha.json()['id']}.png" in captcha_names

    summary = client.get("/api/v1/digit/feedback", params={"limit": 2}).json()
    assert summary["total"] == len(manifest) and summary["conflicts"] >= 1
    assert len(summary["newest"]) == 2 and summary["newest"][0]["id"] == row.json()["id"]


def test_bad_labels_and_bad_images_are_refused(client: httpx.Client) -> None:
    digit = fresh_digit("5", 3)
    assert_error(correct(client, "digit", digit, text="five"), 422, "invalid_label")
    assert_error(correct(client, "digit", digit), 422, "invalid_label")  # no text at all
    assert_error(correct(client, "captcha", captcha_png("ab12", 4), text="AB12!"), 422, "invalid_label")
    assert_error(correct(client, "captcha", captcha_png("ab12", 4), text="ab1"), 422, "invalid_label")
    assert_error(correct(client, "meter", digit, text="12"), 422, "invalid_label")
    assert_error(correct(client, "meter", digit, text="12345", wheels="6"), 422, "invalid_label")
    assert_error(correct(client, "digit", b"not an image at all", text="5"), 415)
    assert_error(correct(client, "digit", png_bomb(), text="5"), 413)
    assert_error(correct(client, "digit", digit, text="5", model="nope"), 404, "unknown_model")
    assert_error(correct(client, "nosuchtask", digit, text="5"), 404, "unknown_task")
    summary = client.get("/api/v1/digit/feedback", params={"limit": 200}).json()
    assert all(entry["text"] != "five" for entry in summary["newest"])


@pytest.fixture(scope="module")
def twin_gateways(digit_backend: UvicornApp, redis_server: RedisServer) -> Iterator[list[UvicornApp]]:
    """Two gateways with API keys on, writing corrections into one folder, as replicas do."""
    folder = tempfile.mkdtemp(prefix="feedback-shared-")
    apps = [
        processes.gateway(
            digit_backend.url,
            redis_server.url,
            env={"GATEWAY_API_KEYS": KEY, "GATEWAY_FEEDBACK_DIR": folder},
        )
        for _ in range(2)
    ]
    for app in apps:
        app.start()
    yield apps
    for app in apps:
        app.stop()
    assert Path(folder).is_dir()


def test_corrections_need_a_key_when_keys_are_on(twin_gateways: list[UvicornApp]) -> None:
    url = twin_gateways[0].url
    image = fresh_digit("3", 5)
    files = {"file": ("x.png", image, "image/png")}
    assert_error(
        httpx.post(url + "/api/v1/digit/feedback", files=files, data={"text": "3"}), 401, "unauthorized"
    )
    assert_error(httpx.get(url + "/api/v1/digit/feedback/export"), 401, "unauthorized")
    reply = httpx.post(
        url + "/api/v1/digit/feedback", files=files, data={"text": "3"}, headers={"X-API-Key": KEY}
    )
    assert reply.status_code == 201, reply.text


def test_two_gateways_writing_at_once_lose_nothing(twin_gateways: list[UvicornApp]) -> None:
    clients = [
        httpx.Client(base_url=app.url, headers={"X-API-Key": KEY}, timeout=30) for app in twin_gateways
    ]
    # Each image sent to both gateways at once (one correction), and each gateway's own images.
    shared = [fresh_digit("8", 100 + i) for i in range(12)]
    own = [[fresh_digit("6", 200 + 50 * g + i) for i in range(12)] for g in range(2)]
    jobs = [(c, image, "8") for image in shared for c in clients]
    jobs += [(clients[g], image, "6") for g in range(2) for image in own[g]]
    try:
        with ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(lambda job: correct(job[0], "digit", job[1], text=job[2]), jobs))
        assert all(reply.status_code == 201 for reply in replies), [
            r.text for r in replies if r.status_code != 201
        ]
        ids = {reply.json()["id"] for reply in replies}
        names, manifest = export(clients[1], "digit")
    finally:
        for c in clients:
            c.close()
    exported = {entry["id"] for entry in manifest}
    assert ids <= exported  # nothing lost
    assert len(ids) == len(shared) + 24  # the shared images stored once each
    assert sum(reply.json()["duplicate"] for reply in replies) == len(shared)
    assert len(manifest) == len(exported)  # nothing twice
    assert all(f"{entry['label']}/{entry['id']}.png" in names for entry in manifest)
