"""Corner ordering, quad IoU and rectification: the conventions the locator and reader share."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image, ImageDraw

from meter_service.geometry import (
    homography,
    order_corners,
    quad_iou,
    quad_size,
    rectangle,
    rectify,
    transform_points,
    warp,
)
from meter_service.wheels import random_style, render_wheel


@pytest.mark.parametrize("angle", [-40, -25, -5, 0, 10, 25, 40])
@pytest.mark.parametrize("size", [(200, 30), (60, 60), (30, 90)])
def test_order_corners_recovers_tl_tr_br_bl_from_any_order(angle: float, size: tuple[int, int]) -> None:
    expected = rectangle((300, 200), size, angle)
    for permutation in itertools.permutations(range(4)):
        np.testing.assert_allclose(order_corners(expected[list(permutation)]), expected, atol=1e-4)


def test_order_corners_of_a_perspective_quad() -> None:
    quad = np.array([[10, 20], [110, 5], [120, 50], [5, 40]], dtype=np.float32)
    np.testing.assert_array_equal(order_corners(quad[[2, 0, 3, 1]]), quad)


def test_quad_iou_of_known_shapes() -> None:
    square = rectangle((0, 0), (10, 10))
    assert quad_iou(square, square) == pytest.approx(1.0)
    assert quad_iou(square, rectangle((5, 0), (10, 10))) == pytest.approx(50 / 150)  # half overlap
    assert quad_iou(square, rectangle((0, 0), (5, 5))) == pytest.approx(25 / 100)  # nested
    assert quad_iou(square, rectangle((20, 0), (10, 10))) == 0.0  # apart
    assert quad_iou(square, square[::-1]) == pytest.approx(1.0)  # winding does not matter


def test_quad_iou_of_rotated_squares() -> None:
    # A square and itself turned 45 degrees: the overlap is a regular octagon.
    side = 2.0
    octagon = 2 * (np.sqrt(2) - 1) * side**2  # area of the octagon inscribed this way
    iou = quad_iou(rectangle((0, 0), (side, side)), rectangle((0, 0), (side, side), 45))
    assert iou == pytest.approx(octagon / (2 * side**2 - octagon), rel=1e-6)
    # Turning a long thin window by a few degrees costs most of its overlap.
    row = rectangle((0, 0), (200, 30))
    assert quad_iou(row, rectangle((0, 0), (200, 30), 2)) > 0.8
    assert quad_iou(row, rectangle((0, 0), (200, 30), 20)) < 0.5


def test_quad_size_and_homography_round_trip() -> None:
    quad = rectangle((50, 40), (80, 20), 30)
    assert quad_size(quad) == pytest.approx((80, 20), rel=1e-5)
    target = np.array([[0, 0], [80, 0], [80, 20], [0, 20]], dtype=np.float32)
    matrix = homography(quad, target)
    np.testing.assert_allclose(transform_points(matrix, quad), target, atol=1e-3)


def _pattern(width: int, height: int) -> Image.Image:
    """Four coloured quadrants with a white border one pixel wide (to see edges land exactly)."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    half_w, half_h = width // 2, height // 2
    for (col, row), colour in zip(itertools.product((0, 1), (0, 1)), colours, strict=True):
        draw.rectangle([col * half_w, row * half_h, (col + 1) * half_w - 1, (row + 1) * half_h - 1], colour)
    return image


def test_rectify_undoes_a_known_warp() -> None:
    flat = _pattern(100, 40)
    target = np.array([[60, 50], [170, 80], [160, 130], [55, 95]], dtype=np.float32)  # TL TR BR BL
    source = np.array([[0, 0], [100, 0], [100, 40], [0, 40]], dtype=np.float32)
    photo = warp(flat, homography(source, target), (240, 180), fill=(128, 128, 128))
    crop = np.asarray(rectify(photo, target, 100, 40)).astype(int)
    expected = np.asarray(flat).astype(int)
    inner = (slice(3, -3), slice(3, -3))  # edges blur under two bicubic resamplings
    mismatch = np.abs(crop[inner] - expected[inner]).max(axis=-1)
    assert (mismatch > 60).mean() < 0.03  # only the quadrant boundaries differ
    # Each quadrant's centre has its colour: the warp did not flip or rotate the crop.
    for x, y in ((25, 10), (75, 10), (25, 30), (75, 30)):
        assert np.abs(crop[y, x] - expected[y, x]).max() < 20


def test_rectify_of_a_rotated_wheel_row_reads_the_wheels_in_order() -> None:
    rng = np.random.default_rng(3)
    style = random_style(rng, "light")
    cells = [render_wheel(position, style, 20, 32) for position in (1, 5, 7)]
    row = Image.new("RGB", (60, 32))
    for index, cell in enumerate(cells):
        row.paste(cell, (index * 20, 0))
    corners = rectangle((120, 90), (120, 64), -20)  # twice the size, turned 20 degrees
    source = np.array([[0, 0], [60, 0], [60, 32], [0, 32]], dtype=np.float32)
    photo = warp(row, homography(source, corners), (240, 180), fill=(90, 90, 90))
    crop = np.asarray(rectify(photo, order_corners(corners[[3, 1, 0, 2]]), 60, 32)).astype(float)
    original = np.asarray(row).astype(float)
    assert np.abs(crop - original)[2:-2, 2:-2].mean() < 12
