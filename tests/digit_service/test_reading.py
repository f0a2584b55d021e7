"""The whole digit pipeline with the shipped model: what a user uploads, what comes back.

Digits whose strokes are cut by a gap must stay one digit, touching neighbours must still be two,
a marker-thick small digit must keep its shape, the rendered styles must be read, and junk must be
refused with a reason. Every image is drawn here (`digit_service.synth`, `digit_service.styles`),
so the tests need no data set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

from digit_service import styles
from digit_service.config import DigitSettings
from digit_service.recognizer import DigitRecognizer, calibrated
from digit_service.synth import draw_number
from digit_service.training.pipeline_eval import detect_pairs, load_pairs
from recognition_common.edge.errors import ApiError
from recognition_common.serving.models import load_compiled
from tests.support.digits import mnist_like, touching_pair

MODEL_DIR = DigitSettings().model_dir / "cnn"
Read = Callable[[Image.Image], dict[str, Any]]


@pytest.fixture(scope="module")
def read() -> Read:
    """Image -> the service's `result` (or {"error": code} for a 422), with the default threshold."""
    card, predict = load_compiled(MODEL_DIR)
    pairs = load_pairs(MODEL_DIR, card)  # its pair detector, asked as the service asks it
    recognizer = DigitRecognizer(DigitSettings().min_confidence)

    def run(image: Image.Image) -> dict[str, Any]:
        try:
            prepared = recognizer.preprocess(image, card)
        except ApiError as exc:
            return {"error": exc.code, "rejected": True, "text": ""}
        if pairs is not None:
            detect_pairs([prepared], pairs)
        return recognizer.decode(predict(prepared.inputs), prepared, card)

    return run


# draw_number's default layout: a digit's unit box spans x 56..224 and y 28..252 of 280x280.
def cut(image: Image.Image, *boxes: tuple[float, float, float, float]) -> Image.Image:
    """Paint paper over parts of a drawn digit (boxes in its unit box): a stroke with a gap."""
    draw = ImageDraw.Draw(image)
    for u0, v0, u1, v1 in boxes:
        draw.rectangle([56 + 168 * u0, 28 + 224 * v0, 56 + 168 * u1, 28 + 224 * v1], fill="white")
    return image


def strokes(image: Image.Image) -> int:
    """Connected pieces of ink (8-connected, dark on light)."""
    ink = np.asarray(image.convert("L")) < 128
    return ndimage.label(ink, structure=np.ones((3, 3), dtype=bool))[1]


BROKEN = {
    "0 open at top and bottom": ("0", [(0.44, 0.0, 0.56, 0.2), (0.44, 0.8, 0.56, 1.0)]),
    "5 with its bar detached": ("5", [(0.15, 0.0, 0.38, 0.2)]),
    "7 broken mid-stroke": ("7", [(0.45, 0.45, 0.75, 0.53)]),
    "2 with its base cut off": ("2", [(0.1, 0.78, 0.33, 1.0)]),
    "9 with its tail detached": ("9", [(0.6, 0.48, 0.85, 0.56)]),
    "1 broken in the middle": ("1", [(0.4, 0.45, 0.7, 0.53)]),
    "3 with a gap in each bow": ("3", [(0.6, 0.2, 0.9, 0.27), (0.6, 0.72, 0.9, 0.8)]),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_digit_whose_stroke_is_cut_by_a_gap_stays_one_digit(case: str, read: Read) -> None:
    digit, boxes = BROKEN[case]
    image = cut(draw_number(digit, width=14), *boxes)
    assert strokes(image) > 1, "the cut must make several pieces, or the test tests nothing"
    result = read(image)
    assert result["text"] == digit, result["text"]


# The same at MNIST's own scale: a 28x28 upload whose 2 px stroke has a gap (boxes in shares of
# the ink's bounding box), as in the misreads ("a 0 read 62", "a 5 read 180").
SMALL_GAPS = {
    "0": [(0.35, 0.0, 0.65, 0.15), (0.35, 0.85, 0.65, 1.0)],
    "5": [(0.0, 0.0, 0.35, 0.2)],
    "7": [(0.2, 0.45, 0.8, 0.55)],
    "9": [(0.5, 0.55, 1.0, 0.65)],
}


@pytest.mark.parametrize(
    "digit",
    [
        pytest.param(
            "0",
            marks=pytest.mark.xfail(
                strict=True,
                reason="known limit: the two halves of this thin 0 read 1 (45%, 63%) and the whole "
                "0 only 31%, so the split reading wins; the answer is refused as unsure, not given",
            ),
        ),
        *sorted(set(SMALL_GAPS) - {"0"}),
    ],
)
def test_a_28x28_digit_with_a_gap_stays_one_digit(digit: str, read: Read) -> None:
    pixels = mnist_like(digit, 0).copy()
    rows, cols = np.nonzero(pixels > 60)
    top, height = rows.min(), rows.max() + 1 - rows.min()
    left, width = cols.min(), cols.max() + 1 - cols.min()
    for u0, v0, u1, v1 in SMALL_GAPS[digit]:
        pixels[
            top + round(v0 * height) : top + round(v1 * height),
            left + round(u0 * width) : left + round(u1 * width),
        ] = 0
    assert ndimage.label(pixels > 60, structure=np.ones((3, 3), dtype=bool))[1] > 1, "no gap was cut"
    assert read(Image.fromarray(pixels))["text"] == digit


def touching(text: str, step: int = 62) -> Image.Image:
    """Digits drawn `step` px apart: each digit's ink is about 68 px wide, so neighbours overlap
    by a few pixels and their strokes run into each other."""
    image = np.full((240, 160 + step * len(text)), 255, dtype=np.uint8)
    for index, char in enumerate(text):
        one = np.asarray(draw_number(char, size=(120, 200), box=(0.1, 0.05, 0.9, 0.95), width=16, mode="L"))
        window = image[20:220, 30 + index * step : 150 + index * step]
        np.minimum(window, one, out=window)
    return Image.fromarray(image)


# Known limit, measured: of these pen-drawn pairs, narrower than tall, "90" is still read as one
# digit: it is too narrow to be offered split at all (SPLIT_MIN_ASPECT). "35" is split since the
# pair detector (0.98); "00" since the group is cut at more of its thin columns (SPLIT_CANDIDATES
# 7: at 3 its cut halves read as 1s). On `make evaluate-digit`'s `touching` set (500 pairs of
# MNIST test digits whose strokes meet) exact readings went 24.0% -> 66.0% with the detector and
# -> 76.6% with the extra cuts (README of the service).
TOUCHING_MISREAD = {"90"}


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(text, marks=pytest.mark.xfail(strict=True, reason="read as one digit (see above)"))
        if text in TOUCHING_MISREAD
        else text
        for text in ["00", "47", "35", "90"]
    ],
)
def test_touching_neighbours_are_still_two_digits(text: str, read: Read) -> None:
    image = touching(text)
    assert strokes(image) < len(text) + (text == "47"), "they must touch"  # a 4 is two strokes
    result = read(image)
    assert result["text"] == text


def test_the_pair_detector_splits_touching_mnist_like_pairs(read: Read) -> None:
    """All 100 pairs of MNIST-like digits run into each other (`styles.touching`): with the
    shipped pair detector and the group cut at up to 7 thin columns 63 are read exactly (56 at 3
    columns); the digit model alone reads 8 of them."""
    card, predict = load_compiled(MODEL_DIR)
    alone = DigitRecognizer(DigitSettings().min_confidence)  # no detector pass asked for
    with_detector = without = 0
    for text in (f"{a}{b}" for a in "0123456789" for b in "0123456789"):
        image = touching_pair(text)
        assert strokes(image) == 1, f"{text}: the two digits must touch"
        with_detector += read(image)["text"] == text
        prepared = alone.preprocess(image, card)
        without += alone.decode(predict(prepared.inputs), prepared, card)["text"] == text
    assert with_detector >= 55 and without <= 15, (with_detector, without)


def test_joined_zeros_are_two_digits(read: Read) -> None:
    image = draw_number("00", size=(300, 200), box=(0.05, 0.1, 0.95, 0.9), width=16)
    ImageDraw.Draw(image).line([(100, 100), (200, 100)], fill="black", width=16)  # join them
    assert read(image)["text"] == "00"


@pytest.mark.parametrize("digit", ["3", "5", "8", "0", "2"])
def test_a_small_digit_with_a_stroke_a_third_of_its_height(digit: str, read: Read) -> None:
    """The issue's case: a 3 or 5 drawn 45 px tall with a 16 px pen read "1"."""
    top = (280 - 45) / 2 / 280
    image = draw_number(digit, box=(0.4, top, 0.6, 1 - top), width=15)
    assert read(image)["text"] == digit


def test_wide_digits_are_not_split(read: Read) -> None:
    """MNIST has 2s and 5s far wider than tall: a digit 1.6 times as wide as tall is one digit."""
    for digit in "257":
        image = draw_number(digit, width=12).resize((420, 200))
        assert read(image)["text"] == digit


@pytest.mark.parametrize("style", sorted(styles.STYLES))
def test_each_rendered_style_is_read(style: str, read: Read) -> None:
    rng = np.random.default_rng(3)
    right = total = 0
    for seed in range(3):
        for digit in "0123456789":
            image = styles.on_canvas(styles.STYLES[style](mnist_like(digit, seed), rng), rng)
            right += read(image)["text"] == digit
            total += 1
    assert right / total >= 0.8, f"{style}: {right}/{total}"


@pytest.mark.parametrize("kind", styles.JUNK_KINDS)
def test_junk_is_refused_with_a_reason(kind: str, read: Read) -> None:
    rng = np.random.default_rng(11)
    refused = 0
    for _ in range(20):
        result = read(styles.junk(kind, rng))
        if result["rejected"]:
            refused += 1
            assert result.get("reject_reason") or result.get("error")
    assert refused >= 16, f"{kind}: {refused}/20 refused"


def test_a_clear_digit_is_not_refused(read: Read) -> None:
    for digit in "0123456789":
        result = read(draw_number(digit, width=14))
        assert result["text"] == digit and not result["rejected"]


def test_row_of_digits_with_uneven_gaps_and_heights(read: Read) -> None:
    """Rows of 2-6 thin pen-drawn digits. Measured: 16 of 20 exact (rows of MNIST test digits,
    `make evaluate-digit`: 98.0%); these 2 px hairline digits are harder than MNIST's."""
    rng = np.random.default_rng(5)
    right = 0
    for index in range(20):
        text = "".join(str(d) for d in rng.integers(0, 10, 2 + index % 5))
        image = styles.row([mnist_like(d, index) for d in text], rng)
        right += read(image)["text"] == text
    assert right >= 15, f"{right}/20 rows read exactly"


def test_temperature_scaling_keeps_the_answer_and_softens_it() -> None:
    probabilities = np.array([[0.97, 0.02, 0.01, 0, 0, 0, 0, 0, 0, 0]], dtype=np.float64)
    softer = calibrated(probabilities, 2.0)
    assert softer.argmax() == 0 and softer.sum() == pytest.approx(1.0)
    assert softer[0, 0] < 0.97
    np.testing.assert_array_equal(calibrated(probabilities, 1.0), probabilities)
