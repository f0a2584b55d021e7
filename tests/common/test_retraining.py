"""The retrain commands' shared steps (`recognition_common.retraining`), on an export made by the
gateway's own code."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from gateway.feedback import DirectoryStore, write_export
from recognition_common.retraining import (
    HISTORY,
    Verdict,
    fetch_corrections,
    install,
    next_version,
    split_corrections,
    standard_error,
)


def export_zip(tmp_path: Path) -> Path:
    store = DirectoryStore(tmp_path / "store")
    for i in range(40):
        store.add("captcha", f"image-{i}".encode(), "PNG", f"ab{i:02d}", model="default")
    store.add("captcha", b"image-0", "PNG", "zz00", model="default")  # a conflict with ab00
    buffer = io.BytesIO()
    write_export(store, store.corrections("captcha"), buffer)
    path = tmp_path / "captcha-feedback.zip"
    path.write_bytes(buffer.getvalue())
    return path


def test_an_export_unpacks_into_the_training_layout_and_splits_stably(tmp_path: Path) -> None:
    corrections = fetch_corrections(str(export_zip(tmp_path)), "captcha", tmp_path / "out")
    assert len(corrections) == 41
    assert all(c.path.is_file() and c.path.name.startswith(c.label + "_") for c in corrections)
    train, held = split_corrections(corrections, share=0.25)
    assert not {c.id for c in train} & {c.id for c in held}
    assert len(train) + len(held) == 39  # the two conflicting ones in neither
    assert 2 <= len(held) <= 20
    again, _ = split_corrections(corrections, share=0.25)
    assert [c.id for c in again] == [c.id for c in train]


def test_what_is_not_an_export_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a corrections export"):
        fetch_corrections(str(tmp_path / "x.zip"), "captcha", tmp_path / "out")
    with pytest.raises(FileNotFoundError):
        fetch_corrections(str(tmp_path / "missing.zip"), "captcha", tmp_path / "out")


def test_only_a_model_no_worse_and_better_on_the_corrections_is_installed() -> None:
    assert Verdict(0.98, 0.98, 0.10, 0.60).install
    assert not Verdict(0.98, 0.90, 0.10, 0.90).install  # worse at its own task
    assert not Verdict(0.98, 0.99, 0.60, 0.60).install  # no better on the corrections
    assert Verdict(0.98, 0.975, 0.1, 0.5, tolerance=0.01).install
    assert "worse" in Verdict(0.98, 0.90, 0.10, 0.90).reason()


def test_install_keeps_the_replaced_model_and_deletes_nothing(tmp_path: Path) -> None:
    models = tmp_path / "models"
    for version, where in (("1.0.0", models / "default"), ("1.1.0", tmp_path / "new")):
        where.mkdir(parents=True)
        (where / "card.json").write_text(json.dumps({"name": "default", "version": version}))
        (where / "model.keras").write_text(version)
    target, kept = install(tmp_path / "new", models, "default")
    assert json.loads((target / "card.json").read_text())["version"] == "1.1.0"
    assert kept == models / HISTORY / "default-1.0.0"
    assert (kept / "model.keras").read_text() == "1.0.0"
    assert next_version("1.0.0") == "1.1.0" and next_version("2.3.4") == "2.4.0"


def test_the_tolerance_is_the_evaluations_noise() -> None:
    assert standard_error(0.986, 500) == pytest.approx(0.00525, abs=1e-4)
    assert standard_error(0.986, 300) > standard_error(0.986, 3000)
    assert standard_error(1.0, 100) == 0.0
