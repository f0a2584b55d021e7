"""Strips composed from wheel crops (`training/composed.py`): the real-wheel evaluation set.

Built here from rendered crops, so the tests need no data set: what matters is that every strip
obeys the odometer rule its labels assume, takes its wheels from one wheel name, and is
reproducible from its seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from meter_service.odometer import MAX_WHEELS, MIN_WHEELS, reading_text
from meter_service.synth import generate_meter
from meter_service.training import composed
from meter_service.training.composed import composed_photos, composed_strips
from meter_service.training.reader_data import Crop, Split, synthetic_crops

PREFIXES = ("roi1", "roi2", "roi3")


@pytest.fixture(scope="module")
def split() -> Split:
    pixels, labels = synthetic_crops(240, seed=3, whole_share=0.6)
    crops = [
        Crop(Path(f"{i}.jpg"), int(label), PREFIXES[i % len(PREFIXES)], f"{i:064x}")
        for i, label in enumerate(labels)
    ]
    return Split(crops, pixels, labels)


def test_strips_obey_the_odometer_rule(split: Split) -> None:
    for sample in composed_strips(split, 40, seed=11):
        assert MIN_WHEELS <= sample.wheels <= MAX_WHEELS
        *left, before, last = sample.positions
        assert all(p == int(p) for p in left), sample.positions  # resting wheels on whole digits
        if last > 9:  # the last wheel past 9 carries its neighbour by the same fraction
            assert round(before % 1, 1) == round(last % 1, 1), sample.positions
        else:
            assert before == int(before), sample.positions
        assert sample.text == reading_text(sample.positions)


def test_a_strip_takes_its_wheels_from_one_wheel_name(split: Split) -> None:
    rng = np.random.default_rng(0)
    pools = composed.pools_of(split)
    assert len(pools) == len(PREFIXES)
    for rows, whole in pools:
        chosen = composed._wheel_rows(split, rows, whole, 6, rng)
        assert len(chosen) == 6
        assert len({split.crops[row].prefix for row in chosen}) == 1


def test_a_strip_is_as_wide_as_its_wheels(split: Split) -> None:
    for sample in composed_strips(split, 10, seed=12):
        # Crops are 20x32; scaled, stretched by at most 10% and framed, the strip keeps the row's
        # proportions: each wheel about 0.56 to 0.69 of the row's height wide.
        ratio = sample.image.width / sample.image.height / sample.wheels
        assert 0.35 < ratio < 0.75, (ratio, sample.wheels)


def test_the_same_seed_gives_the_same_strips(split: Split) -> None:
    first = composed_strips(split, 5, seed=21)
    again = composed_strips(split, 5, seed=21)
    other = composed_strips(split, 5, seed=22)
    assert [s.text for s in first] == [s.text for s in again]
    assert all(
        np.array_equal(np.asarray(a.image), np.asarray(b.image)) for a, b in zip(first, again, strict=True)
    )
    assert [s.text for s in first] != [s.text for s in other]


def test_no_wheel_name_with_enough_whole_digits_gives_no_strips() -> None:
    pixels = np.zeros((4, 32, 20, 3), dtype=np.uint8)
    labels = np.array([5, 15, 25, 35], dtype=np.int32)  # only rolling wheels
    crops = [Crop(Path(f"{i}.jpg"), int(label), "roi", f"{i}") for i, label in enumerate(labels)]
    assert composed_strips(Split(crops, pixels, labels), 3, seed=1) == []


def test_composed_photos_show_the_strips_wheels_in_a_generated_meter(split: Split) -> None:
    """The rows a composed strip would take, in the window of a generated photo: same wheels,
    same reading, the window's corners where those wheels were drawn."""
    photos = composed_photos(split, 6, seed=11)
    strips = composed_strips(split, 6, seed=11)
    assert len(photos) == 6
    for photo in photos:
        assert MIN_WHEELS <= photo.wheels <= MAX_WHEELS and len(photo.positions) == photo.wheels
        assert photo.text == reading_text(photo.positions) and photo.shown == photo.positions
        width, height = photo.image.size
        assert (photo.corners >= -1).all() and (photo.corners[:, 0] <= width + 1).all()
        assert (photo.corners[:, 1] <= height + 1).all()
    assert [p.text for p in photos] != [s.text for s in strips]  # their own random stream
    again = composed_photos(split, 2, seed=11)
    assert np.array_equal(np.asarray(again[0].image), np.asarray(photos[0].image))


def test_a_wheels_image_is_drawn_in_the_window() -> None:
    """A plain red row given as the wheels: the photo is red where the window's row is."""
    red = Image.new("RGB", (5 * 20, 32), (220, 0, 0))
    sample = generate_meter(
        np.random.default_rng(4), 5, size=(600, 450), positions=[1.0, 2.0, 3.0, 4.0, 5.0], wheels_image=red
    )
    centre = sample.corners.mean(axis=0)
    r, g, b = np.asarray(sample.image, dtype=np.float64)[round(centre[1]), round(centre[0])]
    assert r > 100 and r > g + 50 and r > b + 50, (r, g, b)
    with pytest.raises(ValueError, match="positions"):
        generate_meter(np.random.default_rng(4), 5, wheels_image=red)
