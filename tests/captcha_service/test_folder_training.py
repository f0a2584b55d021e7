"""Training on a folder of captchas in a style nothing was trained on, as a user does it.

A few hundred images drawn in a new style at an odd size (123x37, `training.styles`) are trained
on with the one command the README gives, and the model must read held-out images (a whole-captcha
accuracy floor, not only a falling loss), be installed and serve uploads of other sizes. A model
under `--min-accuracy` must not be installed.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from captcha_service.cli import main as cli
from captcha_service.config import CaptchaSettings
from captcha_service.spec import SPEC
from captcha_service.training.styles import write_style
from recognition_common.serving.app import create_app

CONVERGED_FLOOR = 0.6  # whole-captcha, on the held-out test images


@pytest.fixture(scope="module")
def stamp_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stamp") / "stamp"
    write_style("stamp", 400, folder, seed=11)
    return folder


@pytest.fixture(scope="module")
def trained(stamp_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's one command (`train --data FOLDER`), with fewer epochs and smaller batches."""
    root = tmp_path_factory.mktemp("folder-train")
    args = ["--epochs", "20", "--target", "0.9", "--batch-size", "16", "--quiet"]
    cli(
        [
            "train",
            "--data",
            str(stamp_folder),
            "--out",
            str(root / "models"),
            "--checkpoints",
            str(root / "c"),
            *args,
        ]
    )
    return root / "models" / "stamp"


def test_a_new_style_converges_from_a_few_hundred_images(trained: Path) -> None:
    card = json.loads((trained / "card.json").read_text())
    # Inferred from the folder: charset, lengths, and the size (odd, aspect kept, padded).
    assert card["charset"] == "0123456789" and (card["min_length"], card["max_length"]) == (4, 5)
    # Started from the shipped model that reads digits: its height (60), the images' aspect ratio.
    assert card["fine_tuned_from"].startswith("default ")
    assert (card["width"], card["height"], card["resize"]) == (199, 60, "pad")
    assert card["input_shape"] == [60, 199, 1]
    assert card["training_data"]["test_samples"] >= 20 and card["training_data"]["augmentation"] == "none"
    assert card["metrics"]["test_whole_accuracy"] >= CONVERGED_FLOOR, card["metrics"]
    history = json.loads((trained / "history.json").read_text())
    assert history["val_whole_accuracy"][0] < CONVERGED_FLOOR  # it learned, it did not start there


def test_the_model_serves_uploads_of_any_size(trained: Path, tmp_path: Path) -> None:
    write_style("stamp", 12, tmp_path / "fresh", seed=99)  # not a training seed
    app = create_app(SPEC, CaptchaSettings(model_dir=trained.parent, default_model="stamp"))
    right = 0
    with TestClient(app) as client:
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, client.get("/readyz").json()
            time.sleep(0.1)
        for index, path in enumerate(sorted((tmp_path / "fresh").iterdir())):
            image = Image.open(path)
            if index % 2:  # another size and aspect ratio than trained on
                image = image.resize((image.width * 2 + 7, image.height * 2))
            buffer = io.BytesIO()
            image.save(buffer, "PNG")
            reply = client.post("/v1/recognize", files={"file": ("c.png", buffer.getvalue(), "image/png")})
            assert reply.status_code == 200, reply.text
            right += reply.json()["result"]["text"] == path.name.split("_")[0]
    assert right >= 6, f"{right} of 12 read right"


def test_a_model_under_the_floor_is_not_installed(
    stamp_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    served = tmp_path / "models" / "stamp"
    served.mkdir(parents=True)
    (served / "card.json").write_text("{}")  # a model already served under that name
    with pytest.raises(SystemExit) as exit_info:
        cli(
            [
                "train",
                "--data",
                str(stamp_folder),
                "--epochs",
                "1",
                "--from",
                "none",  # fresh weights: one epoch of them reads nothing
                "--batch-size",
                "8",
                "--out",
                str(tmp_path / "models"),
                "--checkpoints",
                str(tmp_path / "checkpoints"),
                "--quiet",
            ]
        )
    assert exit_info.value.code == 1
    assert (served / "card.json").read_text() == "{}"  # left as it was
    assert not (served / "model.keras").exists()
    kept = tmp_path / "checkpoints" / "stamp" / "model"
    assert {"model.keras", "card.json"} <= {p.name for p in kept.iterdir()}
    message = capsys.readouterr().err
    assert "NOT installed" in message and "--min-accuracy 0.5" in message and "Try:" in message
