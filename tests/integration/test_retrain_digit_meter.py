"""The digit and meter retrain commands, end to end at a small scale; the corrections are
`bench.corrections`'s, the same styles as the README's full-scale figures.

Meter: window crops of a meter whose small drums show the neighbouring digits above and below
(the shipped reader reads about half) are corrected through a real gateway;
`python -m meter_service.cli retrain` fetches them, fine-tunes the reader, judges old and new and
has a real meter service reload the new one when it is installed.
Digit: seven-segment numbers (as on a display; the MNIST-trained `cnn` reads about two in five)
in an export zip, with an MNIST-layout file of pen-drawn digits standing in for MNIST
(CI has no MNIST).
At this scale the new model may come out a little worse on its own evaluation, and then the
command must refuse it: each test checks that whichever happens is what the figures call for.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from bench.corrections import small_drums, write_corrections
from tests.support import processes
from tests.support.processes import REPO_ROOT, UvicornApp, wait_until

TOKEN = "retrain-test-token"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def run_command(command: list[str]) -> tuple[int, str]:
    result = subprocess.run(command, cwd=REPO_ROOT, env=ENV, capture_output=True, text=True, timeout=900)
    return result.returncode, result.stdout + result.stderr


def judged_as_the_figures_say(code: int, report: str, models: Path, work: Path, name: str, old: str) -> dict:
    """The figures the command recorded, after checking that it installed the new model exactly
    when they say it is no worse on the task's evaluation (it is better on the corrections)."""
    assert code in (0, 1), report  # 1: trained, judged, not installed
    assert "held-out corrections" in report and "task's evaluation" in report
    card_path = models / name / "card.json" if code == 0 else next(work.glob(f"out/{name}/card.json"))
    figures = json.loads(card_path.read_text())["metrics"]["retrained_from_corrections"]
    no_worse = figures["after"]["task"] >= figures["before"]["task"] - figures["tolerance"]
    better = figures["after"]["corrections"] > figures["before"]["corrections"]
    assert figures["installed"] is (no_worse and better) is (code == 0), report
    kept = models / ".history" / f"{name}-{old}"
    assert kept.is_dir() is (code == 0)  # the replaced model is kept, never deleted
    if code == 1:
        assert json.loads((models / name / "card.json").read_text())["version"] == old
    return figures


# --- Meter --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def meter_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("meter-models")
    shutil.copytree(REPO_ROOT / "meter-service" / "models" / "default", folder / "default")
    return folder


@pytest.fixture(scope="module")
def meter_stack(meter_models: Path) -> Iterator[tuple[UvicornApp, UvicornApp]]:
    service = processes.meter_service(env={"METER_MODEL_DIR": str(meter_models), "METER_ADMIN_TOKEN": TOKEN})
    service.start()
    gateway = processes.gateway("", None, meter_url=service.url)
    gateway.start()
    yield service, gateway
    gateway.stop()
    service.stop()


@pytest.mark.slow
def test_meter_corrections_make_a_better_reader_that_is_served(
    meter_stack: tuple[UvicornApp, UvicornApp], meter_models: Path, tmp_path: Path
) -> None:
    service, gateway = meter_stack
    rng = random.Random(2026)
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        for index in range(200):
            image, text = small_drums(rng)
            reply = client.post(
                "/api/v1/meter/feedback",
                files={"file": (f"{index}.jpg", image, "image/jpeg")},
                data={"text": text, "model": "default"},
            )
            assert reply.status_code == 201, reply.text
    missing_data = tmp_path / "no-real-crops.tar.gz"  # CI has none: rendered wheels instead
    code, report = run_command(
        [sys.executable, "-m", "meter_service.cli", "retrain", "--feedback", gateway.url,
         "--service", service.url, "--admin-token", TOKEN, "--models-dir", str(meter_models),
         "--work", str(tmp_path / "work"), "--data", str(missing_data), "--mix", "1500",
         "--evaluate", "400", "--quiet"]
    )  # fmt: skip
    assert "rendered wheels" in report, report
    figures = judged_as_the_figures_say(code, report, meter_models, tmp_path / "work", "default", "1.0.0")
    assert figures["training"]["correction_wheels"] >= 5 * 140  # wheels cut from the corrections
    # Either way it reads the corrected meter better than the served reader did.
    assert figures["after"]["corrections"] > figures["before"]["corrections"] + 0.1, report
    if code == 0:

        def served_version() -> str:
            listing = httpx.get(f"{gateway.url}/api/v1/models", timeout=10).json()
            (model,) = [m for m in listing["tasks"]["meter"]["models"] if m["name"] == "default"]
            return model["version"]

        wait_until(lambda: served_version() == "1.1.0", timeout_s=30)  # reloaded and served
        assert (meter_models / "default" / "locator" / "model.keras").is_file()  # the locator kept


def test_a_meter_wheel_is_labelled_by_its_digit_unless_it_rolls() -> None:
    from meter_service.training.retrain import wheel_class

    assert wheel_class(3.02, 3) == 30
    assert wheel_class(2.85, 3) == 30  # read a little low: it shows the 3 the user says
    assert wheel_class(3.5, 3) == 35  # half-way to 4: rolling, floored to 3 in the reading
    assert wheel_class(9.6, 9) == 96
    assert wheel_class(0.4, 9) == 90  # far from the 9: the served reader was wrong, the user right


# --- Digit --------------------------------------------------------------------------------------


def pen_digits_npz(path: Path, train: int, test: int) -> None:
    """An MNIST-layout file of pen-drawn digits (`digit_service.synth`), MNIST's 28x28 framing."""
    from digit_service.preprocess import prepare_single_digit
    from digit_service.synth import draw_number

    rng = random.Random(7)

    def digits(count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.array([rng.randrange(10) for _ in range(count)], dtype=np.uint8)
        images = [
            draw_number(str(label), width=rng.uniform(10, 24), jitter=0.06, seed=rng.randrange(10**6))
            for label in labels
        ]
        pixels = np.stack([prepare_single_digit(image) for image in images])
        return np.round(pixels * 255).astype(np.uint8), labels

    x_train, y_train = digits(train)
    x_test, y_test = digits(test)
    np.savez_compressed(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


@pytest.mark.slow
def test_digit_corrections_make_a_better_model_or_a_clear_refusal(tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(REPO_ROOT / "digit-service" / "models" / "cnn", models / "cnn")
    pen_digits_npz(tmp_path / "pen-digits.npz", train=6000, test=300)
    write_corrections("digit", 250, tmp_path / "corrections.zip")
    # A mix of 3,000 digits is a short run: more epochs at a higher rate than the defaults (which
    # fine-tune on 20,000) make the change big enough to measure on ~50 held-out corrections.
    code, report = run_command(
        [sys.executable, "-m", "digit_service.training.retrain",
         "--feedback", str(tmp_path / "corrections.zip"), "--model", "cnn", "--models-dir", str(models),
         "--data", str(tmp_path / "pen-digits.npz"),
         "--work", str(tmp_path / "work"), "--mix", "3000", "--evaluate", "40",
         "--epochs", "4", "--learning-rate", "3e-4", "--quiet"]
    )  # fmt: skip
    figures = judged_as_the_figures_say(code, report, models, tmp_path / "work", "cnn", "2.0.0")
    assert figures["training"]["correction_digits"] > figures["training"]["corrections"]  # rows cut up
    assert figures["after"]["corrections"] > figures["before"]["corrections"] + 0.1, report


def test_a_corrections_digits_are_lined_up_with_its_label() -> None:
    from digit_service.preprocess import DigitSample
    from digit_service.training.retrain import line_up

    blank = np.zeros((28, 28), np.float32)
    samples = [  # group 0 read whole or split in two; group 1 one digit
        DigitSample(blank, (0, 0, 1, 1), group=0, reading=0, prior=0.0),
        DigitSample(blank, (0, 0, 1, 1), group=0, reading=1, prior=-0.5),
        DigitSample(blank, (0, 0, 1, 1), group=0, reading=1, prior=-0.5),
        DigitSample(blank, (0, 0, 1, 1), group=1, reading=0, prior=0.0),
    ]
    confidences = np.array([0.2, 0.9, 0.9, 0.9])
    assert line_up(samples, confidences, 2) == [0, 3]  # the label says: one digit there
    assert line_up(samples, confidences, 3) == [1, 2, 3]  # ...or two, whatever the model prefers
    assert line_up(samples, confidences, 4) is None  # no reading has four digits
