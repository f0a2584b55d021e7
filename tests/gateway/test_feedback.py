"""The corrections store (`gateway.feedback`) and the label rules (`gateway.labels`), in-process.

The store is exercised as replicas use it: several processes writing into one folder at once.
"""

from __future__ import annotations

import csv
import io
import multiprocessing
import zipfile
from pathlib import Path

import pytest

from gateway.config import DEFAULT_LABEL_RULES
from gateway.feedback import DirectoryStore, summarize, write_export
from gateway.labels import check_label
from recognition_common.edge.errors import ApiError

CAPTCHA_CARD = {
    "name": "default",
    "charset": "0123456789abcdefghijklmnopqrstuvwxyz",
    "min_length": 4,
    "max_length": 4,
}


def test_a_correction_is_an_image_and_a_sidecar(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    correction, duplicate = store.add("digit", b"png-bytes", "PNG", "7", model="cnn", model_version="1.0.0")
    assert not duplicate
    assert sorted(p.name for p in (tmp_path / "digit").iterdir()) == [
        f"{correction.id}.json",
        f"{correction.id}.png",
    ]
    assert store.image(correction) == b"png-bytes"
    assert store.corrections("digit") == [correction]
    assert all(c in "0123456789abcdef-" for c in correction.id)  # no user text in a path


def test_the_same_image_and_label_is_stored_once_another_label_is_a_conflict(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    first, _ = store.add("captcha", b"image", "PNG", "ab12")
    again, duplicate = store.add("captcha", b"image", "PNG", "ab12")
    assert duplicate and again == first
    other, duplicate = store.add("captcha", b"image", "PNG", "ab13")
    assert not duplicate and other.id != first.id
    summary = summarize(store.corrections("captcha"), newest=5)
    assert summary.total == 2
    assert summary.conflicts == 1
    assert summary.by_label == {"ab12": 1, "ab13": 1}


def test_the_export_is_in_the_training_commands_layout(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    one, _ = store.add("digit", b"one", "PNG", "3", model="cnn")
    row, _ = store.add("digit", b"row", "JPEG", "2024", model="cnn")
    buffer = io.BytesIO()
    write_export(store, store.corrections("digit"), buffer, folder_per_label=True)
    with zipfile.ZipFile(buffer) as archive:
        names = set(archive.namelist())
        assert names == {f"3/{one.id}.png", f"2024_{row.id}.jpg", "manifest.csv"}
        assert archive.read(f"3/{one.id}.png") == b"one"
        manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert {(r["id"], r["label"], r["model"]) for r in manifest} == {
        (one.id, "3", "cnn"),
        (row.id, "2024", "cnn"),
    }


def _write_many(root: str, worker: int, count: int) -> None:
    store = DirectoryStore(Path(root))
    for i in range(count):
        store.add("captcha", f"image-{i}".encode(), "PNG", "abcd")  # every worker sends the same ones
        store.add("captcha", f"own-{worker}-{i}".encode(), "PNG", "wxyz")


def test_writers_in_several_processes_lose_nothing_and_duplicate_nothing(tmp_path: Path) -> None:
    workers, count = 4, 40
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_write_many, args=(str(tmp_path), w, count)) for w in range(workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    corrections = DirectoryStore(tmp_path).corrections("captcha")
    assert len(corrections) == count + workers * count  # shared ones once, each worker's own all
    assert not [p for p in (tmp_path / "captcha").iterdir() if p.name.startswith(".")]  # no temporaries
    assert len(list((tmp_path / "captcha").glob("*.png"))) == len(corrections)


@pytest.mark.parametrize(
    ("task", "text", "wheels", "says"),
    [
        ("digit", "7a", None, "digits 0-9"),
        ("digit", "", None, "empty"),
        ("captcha", "AB12", None, "does not read"),
        ("captcha", "ab123", None, "reads 4 characters, not 5"),
        ("meter", "123", None, "4 to 8 digits"),
        ("meter", "12345", "6", "wheels='6'"),
    ],
)
def test_labels_that_cannot_be_right_are_refused(task: str, text: str, wheels: str | None, says: str) -> None:
    with pytest.raises(ApiError) as refused:
        check_label(DEFAULT_LABEL_RULES.get(task), text, CAPTCHA_CARD, wheels)
    assert refused.value.status == 422
    assert refused.value.code == "invalid_label"
    assert says in refused.value.message


def test_labels_that_can_be_right_are_kept() -> None:
    rules = DEFAULT_LABEL_RULES
    assert check_label(rules["digit"], " 2024 ", {}) == ("2024", None)
    assert check_label(None, "ab12", CAPTCHA_CARD) == ("ab12", None)
    assert check_label(rules["meter"], "00409", {}, "5") == ("00409", 5)
    assert check_label(rules["meter"], "0040955", {}, "auto") == ("0040955", None)
    # A card without a charset: its classes less the CTC blank.
    assert check_label(None, "xy", {"classes": ["<blank>", "x", "y"], "min_length": 2, "max_length": 2})
    # No rule and no alphabet on the card: letters and digits.
    assert check_label(None, "Zx9", {}) == ("Zx9", None)


def test_a_wrong_method_names_every_method_of_the_path(tmp_path: Path) -> None:
    # GET and POST /api/v1/{task}/feedback are two routes; a 405 must name both (RFC 9110).
    from fastapi.testclient import TestClient

    from gateway.config import GatewaySettings
    from gateway.main import create_app

    with TestClient(create_app(GatewaySettings(feedback_dir=tmp_path))) as client:
        reply = client.request("OPTIONS", "/api/v1/digit/feedback")
        assert reply.status_code == 405 and reply.headers["allow"] == "GET, POST"
        assert reply.json()["error"]["code"] == "method_not_allowed"
        assert client.delete("/api/v1/digit/feedback/export").headers["allow"] == "GET"
