"""Pre-processing must turn any reasonable digit image into an MNIST-like 28x28 sample."""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage

from digit_service.preprocess import (
    choose_readings,
    pair_evidence,
    prepare_digits,
    prepare_readings,
    splittable_groups,
)
from digit_service.synth import draw_number
from recognition_common.edge.errors import ApiError


def only(image: Image.Image) -> np.ndarray:
    samples = prepare_digits(image)
    assert len(samples) == 1
    return samples[0].pixels


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Shape similarity that forgives one-pixel shifts: correlation of slightly blurred images."""
    return float(
        np.corrcoef(ndimage.gaussian_filter(a, 1).ravel(), ndimage.gaussian_filter(b, 1).ravel())[0, 1]
    )


def stroke_width(pixels: np.ndarray) -> float:
    mask = pixels > 0.35
    return 2 * mask.sum() / (mask & ~ndimage.binary_erosion(mask)).sum()


def test_output_is_mnist_shaped() -> None:
    pixels = only(draw_number("3"))
    assert pixels.shape == (28, 28) and pixels.dtype == np.float32
    assert pixels.min() >= 0 and pixels.max() == pytest.approx(1.0)
    rows, cols = np.nonzero(pixels > 0.1)
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 <= 22  # fits 20x20 (+blur)
    assert pixels[0].max() == 0 or pixels[:, 0].max() == 0  # a margin remains


@pytest.mark.parametrize(
    "box",
    [(0.0, 0.0, 0.35, 0.4), (0.65, 0.6, 1.0, 1.0), (0.0, 0.3, 0.35, 0.7), (0.4, 0.0, 0.575, 0.2)],
    ids=["top-left-edge", "bottom-right-edge", "left-edge", "small-top"],
)
def test_off_centre_small_and_edge_digits_are_centred_by_mass(box: tuple) -> None:
    # Boxes keep the reference's aspect ratio, so the normalised digits should match it.
    pixels = only(draw_number("5", box=box, width=8))
    cy, cx = ndimage.center_of_mass(pixels)
    assert abs(cy - 13.5) < 1.6 and abs(cx - 13.5) < 1.6
    reference = only(draw_number("5", width=8))
    # A digit 20% of the canvas tall keeps less detail than a full-size one; still the same shape.
    assert similarity(pixels, reference) > 0.8


def test_polarity_does_not_matter() -> None:
    dark_on_light = only(draw_number("2", dark_on_light=True))
    light_on_dark = only(draw_number("2", dark_on_light=False))
    np.testing.assert_allclose(dark_on_light, light_on_dark, atol=0.02)


def test_transparent_canvas_export() -> None:
    """Black strokes on a transparent background whose hidden colour is black too."""
    strokes = draw_number("4", dark_on_light=False, mode="L")  # white where the pen went
    rgba = Image.new("RGBA", strokes.size, (0, 0, 0, 0))
    rgba.putalpha(strokes)
    expected = only(draw_number("4"))
    np.testing.assert_allclose(only(rgba), expected, atol=0.05)
    white_pen = Image.merge("RGBA", [strokes, strokes, strokes, strokes])
    np.testing.assert_allclose(only(white_pen), expected, atol=0.05)


def test_thin_and_thick_strokes_are_normalised() -> None:
    thin = stroke_width(only(draw_number("7", width=2, size=(600, 600))))
    thick = stroke_width(only(draw_number("7", width=45)))
    assert 2.0 < thin < 4.5 and 2.0 < thick < 4.5
    assert abs(thin - thick) < 1.5


def test_a_digit_thick_for_its_size_is_also_offered_thinned() -> None:
    """A 45 px digit drawn with a 15 px pen (its loops nearly filled) gets a second version with
    MNIST's stroke for the model to read as well; a digit drawn with an ordinary pen does not."""
    top = (280 - 45) / 2 / 280
    [small_thick] = prepare_readings(draw_number("3", box=(0.4, top, 0.6, 1 - top), width=15))
    assert small_thick.thinned is not None and small_thick.thinned.shape == (28, 28)
    assert stroke_width(small_thick.thinned) < 0.7 * stroke_width(small_thick.pixels)
    assert similarity(small_thick.thinned, small_thick.pixels) > 0.7  # the same digit, thinner
    [ordinary] = prepare_readings(draw_number("8"))
    assert ordinary.thinned is None


def test_photo_with_uneven_light_and_noise() -> None:
    size = (1200, 900)
    ramp = np.linspace(120, 230, size[0], dtype=np.float32)[np.newaxis, :].repeat(size[1], axis=0)
    digit = np.asarray(draw_number("6", size=size, width=30, box=(0.35, 0.2, 0.65, 0.8)), dtype=np.float32)[
        ..., 0
    ]
    photo = ramp * (digit / 255.0 * 0.7 + 0.3)  # ink darkens the paper, light falls off to the left
    photo += np.random.default_rng(0).normal(0, 4, photo.shape)
    image = Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8))
    pixels = only(image)
    reference = only(draw_number("6", width=30))
    assert similarity(pixels, reference) > 0.85


def test_digits_side_by_side_are_split_left_to_right() -> None:
    image = draw_number("2024", size=(800, 240), box=(0.05, 0.1, 0.95, 0.9), width=14)
    samples = prepare_digits(image)
    assert len(samples) == 4
    lefts = [s.box[0] for s in samples]
    assert lefts == sorted(lefts)
    # The two "2"s come out nearly identical: each digit is normalised on its own.
    assert similarity(samples[0].pixels, samples[2].pixels) > 0.95


def test_multi_stroke_digits_stay_one_digit() -> None:
    assert len(prepare_digits(draw_number("4"))) == 1  # two separate strokes
    assert len(prepare_digits(draw_number("8"))) == 1  # two loops


def test_touching_digits_are_offered_split() -> None:
    """Joined strokes are one group; it is offered both whole and cut in two, and the model
    chooses (tests/digit_service/test_reading.py reads such pairs)."""
    image = draw_number("00", size=(300, 200), box=(0.05, 0.1, 0.95, 0.9), width=16)
    ImageDraw.Draw(image).line([(100, 100), (200, 100)], fill="black", width=16)  # join them
    readings = prepare_readings(image)
    assert {sample.group for sample in readings} == {0}
    split = [sample for sample in readings if sample.reading > 0]
    assert split and len(split) % 2 == 0  # each cut gives two digits
    # Confident halves and an unsure whole: the split reading wins.
    confidences = np.array([0.3 if sample.reading == 0 else 0.99 for sample in readings])
    chosen = [readings[index] for index in choose_readings(readings, confidences)]
    assert len(chosen) == 2 and chosen[0].box[0] < chosen[1].box[0]


def test_a_wide_group_is_read_whole_when_the_model_is_sure_of_it() -> None:
    image = draw_number("5", width=12).resize((560, 200))  # a 5 twice as wide as tall
    readings = prepare_readings(image)
    confidences = np.array([0.99 if sample.reading == 0 else 0.9 for sample in readings])
    chosen = choose_readings(readings, confidences)
    assert len(chosen) == 1 and readings[chosen[0]].reading == 0


def test_the_pair_detector_is_asked_about_splittable_groups_and_its_verdict_decides() -> None:
    """The whole reading of a group that may be touching digits is what the pair detector sees;
    its log-odds (less the model's offset) count for the split readings."""
    image = draw_number("5", width=12).resize((560, 200))
    readings = prepare_readings(image)
    wide = splittable_groups(readings)
    assert list(wide) == [0] and readings[wide[0]].reading == 0
    confidences = np.array([0.99 if sample.reading == 0 else 0.9 for sample in readings])
    sure_pair = pair_evidence([0], np.array([[0.9999]]), offset=4.0)
    assert sure_pair[0] > 4.0
    split = choose_readings(readings, confidences, sure_pair)
    assert len(split) == 2 and all(readings[index].reading > 0 for index in split)
    unsure = pair_evidence([0], np.array([[0.5]]), offset=4.0)
    assert unsure[0] == pytest.approx(-4.0)
    whole = choose_readings(readings, confidences, unsure)
    assert len(whole) == 1 and readings[whole[0]].reading == 0


def test_side_by_side_strokes_are_not_asked_about() -> None:
    """Two separate full-height strokes ("11") are read apart or as one by the model alone: their
    first reading is two pieces, not a whole to show the pair detector."""
    readings = prepare_readings(draw_number("11", size=(200, 200), box=(0.3, 0.1, 0.7, 0.9)))
    assert [(s.group, s.reading) for s in readings] == [(0, 0), (0, 0), (0, 1)]  # apart, together
    assert splittable_groups(readings) == {}


def test_boxes_are_in_original_coordinates() -> None:
    image = draw_number("1", size=(2000, 1000), box=(0.6, 0.2, 0.8, 0.8), width=40)
    (sample,) = prepare_digits(image)
    x0, y0, x1, y1 = sample.box
    assert 1150 < x0 < 1500 and 1300 < x1 < 1650 and 150 < y0 < 260 and 740 < y1 < 850


def test_specks_are_ignored() -> None:
    image = draw_number("9")
    ImageDraw.Draw(image).ellipse([5, 5, 8, 8], fill="black")
    assert len(prepare_digits(image)) == 1


@pytest.mark.parametrize("colour", ["white", "black", (128, 128, 128)])
def test_empty_canvas_is_refused(colour: object) -> None:
    with pytest.raises(ApiError) as caught:
        prepare_digits(Image.new("RGB", (280, 280), colour))
    assert caught.value.status == 422 and caught.value.code == "empty_image"


@pytest.mark.parametrize("size", [(2, 2), (280, 280)])
def test_specks_only_are_empty_not_a_crash(size: tuple[int, int]) -> None:
    # Ink enough to pass the contrast check, but no mark of more than a pixel: was a ValueError (500).
    pixels = np.full(size[::-1], 255, dtype=np.uint8)
    pixels[::7, ::7] = 0
    if size == (2, 2):
        pixels[1, 1] = 0  # a checkerboard
    with pytest.raises(ApiError) as caught:
        prepare_digits(Image.fromarray(pixels))
    assert caught.value.status == 422 and caught.value.code == "empty_image"


def test_noise_only_is_refused() -> None:
    noise = np.random.default_rng(1).normal(200, 3, (300, 300))
    with pytest.raises(ApiError) as caught:
        prepare_digits(Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8)))
    assert caught.value.status == 422


def test_fully_transparent_image_is_empty() -> None:
    with pytest.raises(ApiError):
        prepare_digits(Image.new("RGBA", (100, 100), (0, 0, 0, 0)))


@pytest.mark.parametrize("digit", ["0", "2", "8"])
def test_a_marker_digit_that_covers_most_of_the_canvas_is_not_empty(digit: str) -> None:
    """Soft-edged ink on nearly half the image made the paper's noise estimate ink: it was refused
    as empty (4% of the rendered thick style)."""
    image = draw_number(digit, box=(0.02, 0.02, 0.98, 0.98), width=70).filter(ImageFilter.GaussianBlur(4))
    ink = np.asarray(image.convert("L")) < 128
    assert ink.mean() > 0.4, "the digit must cover much of the canvas"
    pixels = only(image)
    assert similarity(pixels, only(draw_number(digit, width=14))) > 0.5


@pytest.mark.parametrize("sigma", [3, 15, 30])
def test_noise_at_any_level_stays_empty(sigma: float) -> None:
    """The covering-ink rule must not mistake noise for ink: few noise pixels reach half its peak."""
    noise = np.random.default_rng(2).normal(128, sigma, (280, 280))
    with pytest.raises(ApiError) as caught:
        prepare_digits(Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8)))
    assert caught.value.code == "empty_image"
