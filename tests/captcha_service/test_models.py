"""The shipped models: cards that agree with their files, and the measured accuracy targets."""

from __future__ import annotations

from pathlib import Path

import keras
import pytest

from recognition_common.serving.model_card import read_card

MODELS = Path(__file__).resolve().parents[2] / "captcha-service" / "models"
# name: (charset, min_length, max_length, width, height, whole-captcha target, char target)
SHIPPED = {
    "default": ("0123456789abcdefghijklmnopqrstuvwxyz", 4, 4, 100, 60, 0.95, 0.985),
    "alnum-4to6": ("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", 4, 6, 160, 60, 0.90, 0.97),
}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_model_card_and_file_agree(name: str) -> None:
    charset, shortest, longest, width, height, whole, char = SHIPPED[name]
    card = read_card(MODELS / name)
    assert (card.charset, card.min_length, card.max_length, card.width, card.height) == (
        charset,
        shortest,
        longest,
        width,
        height,
    )
    assert card.classes == ["<blank>", *charset] and card.input_shape == [height, width, 1]
    # Measured by `make evaluate-captcha` on 2,000 fresh captchas, written with --write-card.
    assert card.metrics["test_samples"] == 2000
    assert card.metrics["test_whole_accuracy"] >= whole and card.metrics["test_char_accuracy"] >= char
    assert (MODELS / name / "training_curve.png").is_file()
    # The inference model loads in plain Keras: no custom objects, no CTC layer.
    model = keras.saving.load_model(MODELS / name / "model.keras", compile=False)
    assert model.input_shape == (None, height, width, 1)
    assert model.output_shape == (None, width // 4, len(charset) + 1)
