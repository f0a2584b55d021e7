"""Strips composed from wheel crops (`training/composed.py`): the real-wheel evaluation set.

Built here from rendered crops, so the tests need no data set: what matters is that every strip
obeys the odometer rule its labels assume, takes its wheels from one wheel name, and is
reproducible from its seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from meter_service.odometer import MAX_WHEELS, MIN_WHEELS, reading_text
from meter_service.training import composed
from meter_service.training.composed import composed_strips
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
    pools = composed._pools(split)
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
