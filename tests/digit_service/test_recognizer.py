"""The recognizer's decoding: a thick digit's thinned reading is kept only when clearly surer."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from digit_service.preprocess import DigitSample
from digit_service.recognizer import THINNED_MARGIN, THINNED_SURE, DigitRecognizer, digit_outputs
from recognition_common.serving.model_card import ModelCard
from recognition_common.serving.recognizer import Prepared


def row(digit: int, sure: float) -> np.ndarray:
    """Probabilities with `sure` on `digit` and the rest spread evenly."""
    probabilities = np.full(10, (1 - sure) / 9, dtype=np.float32)
    probabilities[digit] = sure
    return probabilities


def sample(value: float, thinned: float | None = None, group: int = 0) -> DigitSample:
    twin = None if thinned is None else np.full((28, 28), thinned, np.float32)
    return DigitSample(np.full((28, 28), value, np.float32), (0, 0, 1, 1), group=group, thinned=twin)


@pytest.mark.parametrize(
    ("own", "thin", "taken"),
    [
        (0.6, 0.97, True),  # surer by far, and sure
        (0.3, THINNED_SURE - 0.05, False),  # surer, but not sure enough
        (0.97 - THINNED_MARGIN + 0.03, 0.97, False),  # sure, but not surer by THINNED_MARGIN
        (0.97 - THINNED_MARGIN - 0.03, 0.97, True),
    ],
)
def test_the_thinned_row_replaces_its_digit_only_when_clearly_surer(
    own: float, thin: float, taken: bool
) -> None:
    samples = [sample(0.1, group=0), sample(0.2, thinned=0.3, group=1), sample(0.4, group=2)]
    # Rows: the samples' own, then the one thinned version.
    outputs = np.stack([row(1, 0.99), row(5, own), row(7, 0.99), row(3, thin)])
    rows, thinned = digit_outputs(outputs, samples, temperature=1.0)
    assert rows.shape == (3, 10) and thinned.tolist() == [False, taken, False]
    np.testing.assert_array_equal(rows[1], outputs[3] if taken else outputs[1])
    np.testing.assert_array_equal(rows[[0, 2]], outputs[[0, 2]])  # the others keep their own


def test_decode_reports_the_thinned_digit_and_shows_what_was_read() -> None:
    card = ModelCard(
        name="m", version="1", task="digit", classes=[str(d) for d in range(10)], input_shape=[28, 28, 1],
        created="2026-12-07",
    )  # fmt: skip
    samples = [sample(0.2, thinned=0.8)]
    prepared = Prepared(inputs=np.zeros((2, 28, 28, 1), np.float32), context=samples)
    result = DigitRecognizer(min_confidence=0.5).decode(np.stack([row(8, 0.4), row(3, 0.97)]), prepared, card)
    assert result["text"] == "3" and not result["rejected"]
    shown = Image.open(io.BytesIO(base64.b64decode(result["digits"][0]["image_png_base64"])))
    assert np.asarray(shown).max() == round(0.8 * 255)  # the thinned pixels, not the drawn ones
