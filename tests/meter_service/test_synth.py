"""The meter-photo generator: reproducible, and its labels say what is really drawn."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from meter_service.geometry import quad_size, rectify
from meter_service.odometer import reading_text, reading_value
from meter_service.synth import (
    MeterSample,
    generate_meter,
    random_positions,
    render_window,
    sample_rng,
)
from meter_service.training.generate import generate_dataset
from meter_service.wheels import render_wheel


def _grey(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float32)


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (np.sqrt((a * a).sum() * (b * b).sum()) + 1e-6))


def _read_cells(sample: MeterSample, corners: np.ndarray) -> list[int]:
    """Template-match each rectified cell against the sample's own wheels showing 0..9."""
    style = sample.window_style
    assert style is not None
    cell_w, cell_h = 40, 64
    crop = rectify(sample.image, corners, cell_w * sample.wheels, cell_h)
    wheel_w = round(cell_w / (1 + style.separator))  # the drum inside its slot
    margin = (cell_w - wheel_w) // 2
    digits = []
    for index, wheel_style in enumerate(style.wheel_styles):
        cell = _grey(crop.crop((index * cell_w + margin, 0, index * cell_w + margin + wheel_w, cell_h)))
        scores = [_ncc(cell, _grey(render_wheel(d, wheel_style, wheel_w, cell_h))) for d in range(10)]
        digits.append(int(np.argmax(scores)))
    return digits


def test_same_seed_same_photo_and_label() -> None:
    first, second = generate_meter(sample_rng(11, 3)), generate_meter(sample_rng(11, 3))
    assert first.label() == second.label()
    np.testing.assert_array_equal(np.asarray(first.image), np.asarray(second.image))
    other = generate_meter(sample_rng(11, 4))
    assert other.label() != first.label()


@pytest.mark.parametrize("wheels", [4, 5, 6, 7, 8])
def test_labels_are_consistent_for_every_wheel_count(wheels: int) -> None:
    for index in range(3):
        sample = generate_meter(sample_rng(wheels, index), wheels=wheels)
        width, height = sample.image.size
        assert sample.image.mode == "RGB" and min(width, height) >= 200 and max(width, height) <= 720
        assert sample.wheels == wheels == len(sample.positions) == len(sample.text)
        assert sample.text == reading_text(sample.positions)
        assert sample.value == reading_value(sample.positions)
        assert sample.corners.shape == (4, 2) and sample.corners.dtype == np.float32
        assert (sample.corners >= 0).all() and (sample.corners[:, 0] <= width).all()
        assert (sample.corners[:, 1] <= height).all()
        row_w, row_h = quad_size(sample.corners)
        assert 0.5 * wheels < row_w / row_h < 1.5 * wheels  # one slot is about as wide as tall
        json.dumps(sample.label())  # serialisable


def test_rectified_corners_hold_the_drawn_wheels() -> None:
    right, shifted, cells = 0, 0, 0
    for index in range(8):
        rng = sample_rng(2026, index)
        positions = [float(d) for d in rng.integers(0, 10, size=5)]
        sample = generate_meter(rng, positions=positions)
        truth = [int(p) for p in positions]
        right += sum(a == b for a, b in zip(_read_cells(sample, sample.corners), truth, strict=True))
        slot = (sample.corners[1] - sample.corners[0]) / 5
        moved = sample.corners + slot * 0.5  # half a wheel off: should read much worse
        shifted += sum(a == b for a, b in zip(_read_cells(sample, moved), truth, strict=True))
        cells += 5
    assert right / cells >= 0.8
    assert shifted < right * 0.7


def test_shown_positions_are_the_positions_less_each_drums_offset() -> None:
    drifts, offsets, moved = [], [], []
    for index in range(8):
        sample = generate_meter(sample_rng(31, index))
        assert sample.window_style is not None and len(sample.shown) == sample.wheels
        for position, shown, style in zip(
            sample.positions, sample.shown, sample.window_style.wheel_styles, strict=True
        ):
            drifts.append((shown - (position - style.offset_y / style.pitch) + 5) % 10 - 5)
            offsets.append(style.offset_y / style.pitch)
            moved.append((shown - position + 5) % 10 - 5)
        assert sample.label()["shown"] == [round(p, 4) for p in sample.shown]
    # Apart only by the per-render wobble (sd 0.015 of the cell); a drum mounted low shows less.
    assert np.abs(drifts).max() < 0.1
    assert np.corrcoef(moved, offsets)[0, 1] < -0.7


def test_window_region_differs_from_the_face_around_it() -> None:
    for index in range(5):
        sample = generate_meter(sample_rng(99, index))
        row = _grey(rectify(sample.image, sample.corners, 100, 20))
        above = sample.corners - (sample.corners[3] - sample.corners[0])  # one row height up
        around = _grey(rectify(sample.image, above, 100, 20))
        # Digits on drums have contrast, even under a hand's shadow or a hazy cover.
        assert row.std() > 8
        assert np.abs(row - around).mean() > 5


def test_mid_roll_readings_are_common() -> None:
    rng = np.random.default_rng(0)
    rolling = 0
    for _ in range(300):
        positions = random_positions(rng, 5)
        rolling += any(p % 1 > 0.1 for p in positions[:-1])
    assert rolling / 300 > 0.2


def test_render_window_is_a_loose_crop_with_the_row_inside() -> None:
    rng = np.random.default_rng(5)
    positions = [0.0, 2.0, 5.5, 7.0, 9.9]
    sample = render_window(positions, rng=rng)
    width, height = sample.image.size
    row_w, row_h = quad_size(sample.corners)
    assert row_w <= width + 1 and row_h <= height + 1
    assert row_w > 0.7 * width and row_h > 20
    assert sample.text == reading_text(positions)
    assert np.asarray(sample.image).std() > 20


def test_generate_dataset_writes_jpegs_and_labels(tmp_path) -> None:
    labels = generate_dataset(tmp_path, 3, seed=1, wheels=(4, 8))
    lines = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 3
    for line in lines:
        image = Image.open(tmp_path / line["file"])
        assert image.format == "JPEG"
        assert 4 <= line["wheels"] <= 8 and len(line["corners"]) == 4
        assert line["text"] == reading_text(line["positions"]) and len(line["positions"]) == line["wheels"]
    again = generate_dataset(tmp_path / "again", 2, seed=1, wheels=(4, 8))  # a prefix of the same set
    assert (
        again.read_text(encoding="utf-8").splitlines() == labels.read_text(encoding="utf-8").splitlines()[:2]
    )
