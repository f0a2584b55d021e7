"""A short training run end to end: the loss falls, the model directory serves, --resume continues."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from captcha_service.cli import main as cli
from captcha_service.config import CaptchaSettings
from captcha_service.spec import SPEC
from recognition_common.serving.app import create_app

TINY = [
    "--generate",
    "320",
    "--validation",
    "64",
    "--batch-size",
    "32",
    "--gru-units",
    "32",
    "--charset",
    "digits",
    "--min-length",
    "3",
    "--max-length",
    "4",
    "--width",
    "100",
    "--height",
    "60",
    "--workers",
    "1",
    "--min-accuracy",
    "0",  # two epochs read little: installed anyway, to test the files and serving
    "--quiet",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("captcha-train")
    cli(
        [
            "train",
            "--name",
            "tiny",
            "--epochs",
            "2",
            "--out",
            str(root / "models"),
            "--checkpoints",
            str(root / "checkpoints"),
            *TINY,
        ]
    )
    return root


def test_training_writes_a_model_directory_and_the_loss_falls(trained: Path) -> None:
    model_dir = trained / "models" / "tiny"
    assert {"model.keras", "card.json", "history.json", "training_curve.png"} <= {
        p.name for p in model_dir.iterdir()
    }
    history = json.loads((model_dir / "history.json").read_text())
    assert history["loss"][-1] < history["loss"][0]
    for key in ("char_accuracy", "whole_accuracy", "val_char_accuracy", "val_whole_accuracy"):
        assert len(history[key]) == 2
    card = json.loads((model_dir / "card.json").read_text())
    assert card["task"] == "captcha" and card["charset"] == "0123456789"
    assert (card["min_length"], card["max_length"], card["width"], card["height"]) == (3, 4, 100, 60)
    assert card["classes"][0] == "<blank>" and card["input_shape"] == [60, 100, 1]


def test_resume_continues_from_the_checkpoint(trained: Path) -> None:
    cli(
        [
            "train",
            "--name",
            "tiny",
            "--epochs",
            "3",
            "--resume",
            "--out",
            str(trained / "models"),
            "--checkpoints",
            str(trained / "checkpoints"),
            *TINY,
        ]
    )
    history = json.loads((trained / "models" / "tiny" / "history.json").read_text())
    assert len(history["loss"]) == 3  # two from the first run, one more


def test_the_trained_model_serves(trained: Path) -> None:
    app = create_app(SPEC, CaptchaSettings(model_dir=trained / "models", default_model="tiny"))
    with TestClient(app) as client:
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, client.get("/readyz").json()
            time.sleep(0.1)
        sample = client.get("/captcha/")
        assert sample.status_code == 200 and sample.headers["content-type"] == "image/png"
        assert 3 <= len(sample.headers["x-captcha-text"]) <= 4
        reply = client.post("/v1/recognize", files={"file": ("c.png", sample.content, "image/png")})
        assert reply.status_code == 200, reply.text
        result = reply.json()["result"]
        assert {"text", "confidence", "rejected", "characters"} <= set(result)
        assert len(result["characters"]) == len(result["text"])


def test_training_on_a_verified_folder_with_augmentation(tmp_path: Path) -> None:
    incoming = tmp_path / "data" / "incoming"
    cli(["generate", "-n", "200", "--charset", "digits", "--out", str(incoming), "--quiet", "--workers", "1"])
    cli(["verify-split", str(tmp_path / "data"), "--charset", "digits", "--ratio", "4:1", "--quiet"])
    cli(["train", "--name", "real", "--data", str(tmp_path / "data"), "--augment", "--epochs", "1",
         "--batch-size", "32", "--gru-units", "16", "--out", str(tmp_path / "models"),
         "--checkpoints", str(tmp_path / "checkpoints"), "--quiet", "--min-accuracy", "0"])  # fmt: skip
    card = json.loads((tmp_path / "models" / "real" / "card.json").read_text())
    assert card["charset"] == "0123456789"  # inferred from the labels
    assert card["training_data"]["layout"].startswith("train/ and test/")
    assert card["training_data"]["augmentation"] != "none"
    parts = ("train_samples", "validation_samples", "test_samples")
    assert sum(card["training_data"][part] for part in parts) == 200
    assert card["training_data"]["test_samples"] == len(list((tmp_path / "data" / "test").iterdir()))
