"""The recognizer's pre-processing and decoding, without a model: shapes, confidences, rejection."""

from __future__ import annotations

import numpy as np
from PIL import Image

from captcha_service.card import CaptchaCard
from captcha_service.recognizer import CaptchaRecognizer
from recognition_common.serving.recognizer import Prepared

CARD = CaptchaCard(
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


def test_an_unsure_answer_is_rejected_even_when_each_character_passes() -> None:
    # Four characters at 0.7 each: every one above 0.5, the answer right together about 24%.
    path = [(1, 0.7), (0, 0.9), (2, 0.7), (0, 0.9), (1, 0.7), (0, 0.9), (2, 0.7)]
    strict = CaptchaRecognizer(0.5, min_answer_confidence=0.5).decode(
        outputs(path), Prepared(np.empty(0)), CARD
    )
    assert strict["text"] == "abab" and strict["rejected"] is True
    assert "answer confidence 0.24 below the threshold 0.5" in strict["reject_reason"]
    lenient = CaptchaRecognizer(0.5, min_answer_confidence=0.2).decode(
        outputs(path), Prepared(np.empty(0)), CARD.model_copy(update={"max_length": 4})
    )
    assert lenient["rejected"] is False


def test_a_padded_card_keeps_the_aspect_ratio_and_an_old_card_stretches() -> None:
    wide = Image.new("L", (200, 30), 200)  # light background, a dark bar across the middle
    wide.paste(0, (0, 13, 200, 17))
    padded = (
        CaptchaRecognizer(0.5).preprocess(wide, CARD.model_copy(update={"resize": "pad"})).inputs[0, ..., 0]
    )
    # 200x30 fitted into 100x60 is 100x15, centred: 22 rows of padding in the border grey above it.
    assert padded.shape == (60, 100)
    assert np.allclose(padded[:22], 200 / 255) and padded[29:31].mean() < 0.2
    stretched = CaptchaRecognizer(0.5).preprocess(wide, CARD).inputs[0, ..., 0]
    # The 4-row bar: 2 rows padded (scaled by 1/2), 8 rows stretched (scaled by 2 vertically).
    dark_rows = lambda image: int((image.mean(axis=1) < 0.5).sum())  # noqa: E731
    assert dark_rows(padded) <= 3 and dark_rows(stretched) >= 7
