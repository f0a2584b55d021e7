"""The recognizer's pre-processing and decoding, without a model: shapes, confidences, rejection."""

from __future__ import annotations

import numpy as np
from PIL import Image

from captcha_service.recognizer import CaptchaRecognizer
from recognition_common.model_card import ModelCard
from recognition_common.recognizer import Prepared

CARD = ModelCard(
    name="t",
    version="1",
    task="captcha",
    classes=["<blank>", "a", "b"],
    input_shape=[60, 100, 1],
    created="2026-01-01",
    charset="ab",
    min_length=2,
    max_length=3,
    width=100,
    height=60,
)


def outputs(path: list[tuple[int, float]]) -> np.ndarray:
    rows = []
    for best, p in path:
        row = np.full(3, (1 - p) / 2, dtype=np.float32)
        row[best] = p
        rows.append(row)
    return np.array([rows])


def test_any_image_becomes_the_cards_input_shape() -> None:
    recognizer = CaptchaRecognizer(0.5)
    transparent = Image.new("RGBA", (317, 91), (0, 0, 0, 0))
    prepared = recognizer.preprocess(transparent, CARD)
    assert prepared.inputs.shape == (1, 60, 100, 1) and prepared.inputs.dtype == np.float32
    assert prepared.inputs.min() == 1.0  # transparency is flattened onto white


def test_confident_reading_is_accepted() -> None:
    result = CaptchaRecognizer(0.5).decode(
        outputs([(1, 0.9), (0, 0.9), (2, 0.8)]), Prepared(np.empty(0)), CARD
    )
    assert result["text"] == "ab" and result["rejected"] is False
    assert result["characters"] == [{"char": "a", "confidence": 0.9}, {"char": "b", "confidence": 0.8}]
    assert result["confidence"] == round(0.9 * 0.8, 4)


def test_unsure_character_or_wrong_length_is_rejected() -> None:
    unsure = CaptchaRecognizer(0.5).decode(
        outputs([(1, 0.9), (0, 0.9), (2, 0.4)]), Prepared(np.empty(0)), CARD
    )
    assert unsure["rejected"] is True and "character 2" in unsure["reject_reason"]
    short = CaptchaRecognizer(0.5).decode(outputs([(1, 0.9), (0, 0.9)]), Prepared(np.empty(0)), CARD)
    assert short["rejected"] is True and "read 1 characters" in short["reject_reason"]
