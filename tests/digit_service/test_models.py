"""The committed digit models: their cards, their accuracy on handwriting that is not MNIST, and
the training command that reproduces them (run small, on generated digits)."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from digit_service.config import DigitSettings
from digit_service.preprocess import prepare_digits
from digit_service.spec import SPEC
from digit_service.synth import draw_number
from recognition_common.serving.app import create_app
from recognition_common.serving.model_card import read_card
from recognition_common.serving.models import find_model_dirs, fingerprint, load_compiled
from tests.support.images import encode

MODELS_DIR = DigitSettings().model_dir
TARGETS = {"lenet5": 0.990, "cnn": 0.996}  # MNIST test accuracy, from the issue


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_card_is_complete_and_meets_its_target(name: str) -> None:
    model_dir = MODELS_DIR / name
    card = read_card(model_dir)
    assert card.name == name and card.task == "digit"
    assert card.classes == [str(i) for i in range(10)] and card.input_shape == [28, 28, 1]
    assert card.training_data["name"] == "MNIST" and len(card.training_data["sha256"]) == 64
    assert card.metrics["test_samples"] == 10_000
    assert card.metrics["mnist_test_accuracy"] >= TARGETS[name]
    assert (model_dir / "model.keras").stat().st_size < 20 * 1024 * 1024
    assert (model_dir / "training_curve.png").is_file()


# The whole pipeline on MNIST test uploaded as 28x28 PNGs (`make evaluate-digit`), from the issue:
# the pipeline must cost no accuracy, and refuse at most 1% of real digits.
PIPELINE_TARGETS = {"lenet5": 0.99, "cnn": 0.995}
JUNK_REFUSED = {"lenet5": 0.8, "cnn": 0.95}  # measured: lenet5 82-99.6%, cnn 97.6-100%


@pytest.mark.parametrize("name", sorted(PIPELINE_TARGETS))
def test_card_records_the_whole_pipeline_and_its_calibration(name: str) -> None:
    card = read_card(MODELS_DIR / name)
    pipeline = card.metrics["pipeline"]
    assert pipeline["mnist"]["samples"] == 10_000
    assert pipeline["mnist"]["read_right"] >= PIPELINE_TARGETS[name]
    assert pipeline["mnist"]["refused"] <= 0.01
    assert pipeline["min_confidence"] == DigitSettings().min_confidence  # measured as served
    for style in ("binary", "postal16", "blocky", "coarse8", "stretched", "thick", "thin", "slanted", "rows"):
        assert 0.9 <= pipeline[style]["read_right"] <= 1.0, style
    for kind in ("dot", "scribble", "blob", "letter"):
        assert pipeline[f"junk:{kind}"]["refused"] >= JUNK_REFUSED[name], kind
    assert pipeline["touching"]["samples"] == pipeline["per_style"]  # touching pairs are measured too
    calibration = card.model_extra["calibration"]
    assert 0.5 <= calibration["temperature"] <= 4.0 and "validation" in calibration["fitted_on"]


# Pen widths x placements x polarities: digits drawn the way people draw them on a canvas.
STYLES = list(
    itertools.product(
        [4, 12, 30],
        [(0.15, 0.1, 0.85, 0.9), (0.0, 0.0, 0.45, 0.5), (0.55, 0.5, 1.0, 1.0), (0.35, 0.35, 0.6, 0.65)],
        [True, False],
    )
)


@pytest.mark.parametrize(("name", "minimum"), [("lenet5", 0.92), ("cnn", 0.93)])
def test_reads_pen_drawn_digits_anywhere_on_the_canvas(name: str, minimum: float) -> None:
    """720 drawings: thin and thick pens, centred, in corners, small, both polarities.

    Measured when written: lenet5 94.4%, cnn 96.9% (the misses are mostly a flagged "1" drawn
    with a hairline pen, read as 7). With the 2.0.0 models trained on rendered styles and junk:
    cnn 93.6% (674/720), a regression on these drawings, which are not MNIST's style; 2.1.0,
    with 8x8 thumbnails among the styles: cnn 96.4% (694/720), lenet5 95.7%.
    """
    _, predict = load_compiled(MODELS_DIR / name)
    correct = total = 0
    for index, (width, box, dark) in enumerate(STYLES):
        for digit in "0123456789":
            for seed in range(3):
                image = draw_number(
                    digit, width=width, box=box, dark_on_light=dark, jitter=0.05, seed=seed * 100 + index
                )
                samples = prepare_digits(image)
                predicted = predict(np.stack([s.pixels for s in samples])[..., np.newaxis]).argmax(axis=1)
                total += 1
                correct += len(samples) == 1 and str(predicted[0]) == digit
    assert correct / total >= minimum, f"{name}: {correct}/{total}"


def test_training_command_writes_a_servable_model(tmp_path: Path) -> None:
    """`train` on a practitioner's folder, then `evaluate`, then serve what was written."""
    from digit_service.cli import main as cli

    data = tmp_path / "digits"
    for digit in range(10):
        folder = data / str(digit)
        folder.mkdir(parents=True)
        for seed in range(24):
            image = draw_number(str(digit), width=8 + seed % 20, jitter=0.06, seed=seed)
            (folder / f"{seed}.png").write_bytes(encode(image))
    (data / "3" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")  # skipped, kept
    out = tmp_path / "models"

    # Under a name of its own (--name), so it can be served beside the shipped lenet5.
    cli(
        [
            "train",
            *("--model", "lenet5", "--name", "lenet5-mine", "--data", str(data)),
            *("--epochs", "4", "--batch-size", "32", "--out", str(out)),
        ]
    )

    model_dir = out / "lenet5-mine"
    assert (data / "3" / "broken.png").exists()
    history = json.loads((model_dir / "history.json").read_text())
    assert history["loss"][-1] < history["loss"][0]
    assert (model_dir / "training_curve.png").stat().st_size > 1000
    card = read_card(model_dir)
    assert card.training_data["train_samples"] + card.training_data["validation_samples"] == 240

    cli(["evaluate", "--model-dir", str(model_dir), "--data", str(data), "--write-card"])
    metrics = read_card(model_dir).metrics
    assert 0.5 < metrics["accuracy"] <= 1.0
    # The folder as uploads, through the whole pipeline: the broken file counts as refused.
    folder = metrics["folder_pipeline"]
    assert folder["samples"] == 241 and folder["refused"] >= 1 / 241
    assert 0.3 < folder["read_right"] <= 1.0

    assert find_model_dirs(out) == [model_dir]
    assert card.name == "lenet5-mine"
    app = create_app(SPEC, DigitSettings(model_dir=out, default_model="lenet5-mine"))
    with TestClient(app) as client:
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        reply = client.post("/v1/recognize", files={"file": ("d.png", encode(draw_number("7")))})
        assert reply.status_code == 200
        assert reply.json()["model"] == {
            "name": "lenet5-mine",
            "version": card.version,
            "fingerprint": fingerprint(model_dir),
        }
        assert len(reply.json()["result"]["digits"][0]["probabilities"]) == 10
