"""The window locator: corners from masks, the views' mapping back to the photo, the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from meter_service import pipeline
from meter_service.geometry import order_corners, quad_iou, rectangle
from meter_service.locate import (
    INPUT_SHAPE,
    LocatorFrame,
    Window,
    WindowSearch,
    locate_window,
    locator_input,
    refine_frame,
    refine_input,
    touches_edge,
    view_frame,
    window_from_output,
)
from meter_service.options import MeterOptions
from meter_service.synth import generate_meter, sample_rng
from meter_service.training.locator import (
    REFINE_VIEWS,
    SCENE_VIEWS,
    WINDOW_VIEWS,
    cropped_view,
    photo_views,
    target_mask,
    window_view,
)

MODEL_DIR = Path(__file__).resolve().parents[2] / "meter-service" / "models" / "default" / "locator"
IDENTITY = LocatorFrame(np.eye(3), (160, 160))  # input pixels are photo pixels


def test_corners_of_a_hand_made_mask() -> None:
    mask = np.zeros((80, 80), dtype=np.float32)
    mask[30:40, 10:60] = 1.0  # a 50 x 10 row, mask pixels are 2 input pixels
    window = window_from_output(mask[..., np.newaxis], IDENTITY)
    assert isinstance(window, Window)
    expected = np.array([[20, 60], [120, 60], [120, 80], [20, 80]], dtype=np.float32)
    np.testing.assert_allclose(window.corners, expected, atol=0.5)
    assert window.score == pytest.approx(1.0)


def test_turned_soft_mask_gives_sub_pixel_corners() -> None:
    truth = rectangle((80, 70), (100, 18), -17)
    frame = LocatorFrame(np.eye(3), (160, 160))
    mask = target_mask(truth, frame).astype(np.float32) / 255  # anti-aliased, as the model paints
    window = window_from_output(mask, frame)
    assert window is not None
    assert quad_iou(window.corners, truth) > 0.97
    np.testing.assert_allclose(window.corners, order_corners(truth), atol=1.0)


def test_nothing_found_on_an_empty_or_faint_mask() -> None:
    assert window_from_output(np.zeros((80, 80, 1), np.float32), IDENTITY) is None
    assert window_from_output(np.full((80, 80), 0.3, np.float32), IDENTITY) is None


def test_the_strongest_blob_wins_over_a_weaker_one() -> None:
    mask = np.zeros((80, 80), dtype=np.float32)
    mask[10:16, 10:40] = 0.99
    mask[50:56, 20:70] = 0.7  # a second, less certain row elsewhere
    window = window_from_output(mask, IDENTITY)
    assert window is not None and window.corners[:, 1].max() < 40


def test_a_row_dimmed_in_part_is_found_whole_but_not_a_dim_blob_apart() -> None:
    mask = np.zeros((80, 80), dtype=np.float32)
    mask[30:40, 10:35] = 0.95  # the row as the model is sure of it
    mask[30:40, 35:60] = 0.35  # its other half under glare: the mask dims, it doesn't stop
    mask[60:66, 10:60] = 0.4  # something faint elsewhere, not touching the row
    window = window_from_output(mask, IDENTITY)
    assert window is not None
    # The row is 20..120 input pixels across; its sure half ends at 70. The moments weigh the dim
    # half less, so the ends come out a little inside, but the row is no longer cut in half.
    xs, ys = window.corners[:, 0], window.corners[:, 1]
    assert xs.max() > 100 and abs(xs.min() - 20) < 10
    np.testing.assert_allclose(ys, [60, 60, 80, 80], atol=1.0)  # the faint blob below left out
    assert window.score == pytest.approx(0.95)  # judged on the part the model is sure of


@pytest.mark.parametrize("index", range(3))
def test_views_map_masks_back_to_photo_pixels(index: int) -> None:
    sample = generate_meter(sample_rng(77, index))
    array, frame = locator_input(sample.image)
    assert array.shape == INPUT_SHAPE and array.dtype == np.float32 and 0 <= array.min() <= array.max() <= 1
    coarse = window_from_output(target_mask(sample.corners, frame) / 255.0, frame)
    assert coarse is not None and quad_iou(coarse.corners, sample.corners) > 0.6  # tiny rows are coarse
    view, fine_frame = refine_input(sample.image, coarse)
    assert view.shape == INPUT_SHAPE
    fine = window_from_output(target_mask(sample.corners, fine_frame) / 255.0, fine_frame)
    assert fine is not None and quad_iou(fine.corners, sample.corners) > 0.93


def test_view_frame_turns_and_scales_about_its_centre() -> None:
    frame = view_frame((500.0, 300.0), np.radians(90), 320.0)  # 2 photo pixels per input pixel
    centre = frame.to_image @ np.array([80, 80, 1])
    np.testing.assert_allclose(centre[:2], [500, 300], atol=1e-6)
    right = frame.to_image @ np.array([90, 80, 1])  # 10 input pixels right: 20 photo pixels down
    np.testing.assert_allclose(right[:2], [500, 320], atol=1e-6)


def test_a_refining_view_shows_the_photo_where_the_frame_says() -> None:
    photo = Image.new("RGB", (400, 300), (0, 0, 0))
    photo.paste((255, 255, 255), (200, 100, 300, 150))  # a white box, 100 x 50
    corners = np.array([[200, 100], [300, 100], [300, 150], [200, 150]], dtype=np.float32)
    view, frame = refine_input(photo, corners)
    mask = target_mask(corners, frame) / 255.0
    grey = view.mean(axis=-1).reshape(80, 2, 80, 2).mean(axis=(1, 3))  # to the mask's resolution
    assert np.abs(grey - mask).mean() < 0.03


def test_search_steps_through_the_passes_with_an_ideal_mask() -> None:
    sample = generate_meter(sample_rng(5, 2))
    search = WindowSearch(sample.image)
    views = 0
    while not search.done:
        assert search.view is not None and search.view.shape == INPUT_SHAPE
        search.update(target_mask(sample.corners, search.frame) / 255.0)  # an oracle locator
        views += 1
    assert views == 3 and search.passes == 2  # whole photo + two refinements
    assert search.window is not None and quad_iou(search.window.corners, sample.corners) > 0.93


def test_search_without_a_blob_ends_with_no_window() -> None:
    search = WindowSearch(Image.new("RGB", (300, 200)))
    assert search.update(np.zeros((80, 80), np.float32)) is None
    assert search.done and search.window is None


@pytest.mark.parametrize(("seen", "extra_passes"), [(1 / 3, 0), (1 / 10, 1)])
def test_search_widens_views_the_row_runs_off(seen: float, extra_passes: int) -> None:
    sample = generate_meter(sample_rng(5, 3))
    search = WindowSearch(sample.image)
    short = sample.corners.copy()  # a first pass that saw only the middle of the row
    cut = (short[1] - short[0]) * (1 - seen) / 2
    short[[0, 3]] += cut
    short[[1, 2]] -= cut
    first = LocatorFrame(np.eye(3), (sample.image.width, sample.image.height))
    search.frame = first
    search.update(target_mask(short, first, stride=1) / 255.0)
    while not search.done:
        search.update(target_mask(sample.corners, search.frame) / 255.0)
    assert search.extra >= extra_passes
    assert search.window is not None and quad_iou(search.window.corners, sample.corners) > 0.9


def test_touches_edge_flags_a_row_that_runs_off_the_view() -> None:
    inside = Window(rectangle((80, 80), (100, 20)), 1.0)
    running_off = Window(rectangle((80, 80), (159, 20)), 1.0)
    assert not touches_edge(inside, IDENTITY)
    assert touches_edge(running_off, IDENTITY)


def test_training_views_come_with_matching_masks() -> None:
    inputs, masks = photo_views(42, 1)
    assert inputs.dtype == np.uint8 and inputs.shape[1:] == INPUT_SHAPE
    assert masks.shape == (len(inputs), 80, 80)
    assert len(inputs) == 1 or all(mask.max() == 255 for mask in masks)  # the row is in every view


@pytest.mark.skipif(not (MODEL_DIR / "model.keras").is_file(), reason="no trained locator committed")
def test_committed_locator_finds_windows_in_fresh_photos() -> None:
    from recognition_common.serving.models import load_compiled

    _, predict = load_compiled(MODEL_DIR)
    ious = []
    for index in range(6):
        sample = generate_meter(sample_rng(31_337, index))  # a seed no training run used
        window = locate_window(predict, sample.image)
        ious.append(quad_iou(window.corners, sample.corners) if window else 0.0)
    assert sum(iou >= 0.8 for iou in ious) >= 5, ious
    blank = Image.new("RGB", (400, 300), (128, 128, 128))
    found = locate_window(predict, blank)
    assert found is None or found.score < 0.6


def test_a_share_of_training_windows_show_real_wheel_crops(tmp_path: Path) -> None:
    from tests.meter_service.test_reader import make_fake_folder

    data = make_fake_folder(tmp_path / "crops", whole=True)
    index = next(i for i in range(20) if len(photo_views(42, i)[0]) > 2)  # a photo of a counter
    drawn, _ = photo_views(42, index)
    unchanged, _ = photo_views(42, index, data, 0.0)
    assert np.array_equal(unchanged, drawn)  # no share: the rendered photo, as before
    real, real_masks = photo_views(42, index, data, 1.0)
    assert real.shape[1:] == INPUT_SHAPE and not np.array_equal(real[0], drawn[0])
    assert all(mask.max() == 255 for mask in real_masks)  # the row of real wheels is painted
    # ...in every view: whole, turned, refining and as a mode=window crop
    assert len(real) == len(drawn) == 1 + SCENE_VIEWS + REFINE_VIEWS + WINDOW_VIEWS


def test_a_window_view_is_what_the_locator_sees_of_that_crop_sent_alone() -> None:
    """Training's mode=window views match serving's: the photo seen round a crop, black beyond
    it, is the crop cut out and sent alone (`pipeline.start` in window mode)."""
    sample = generate_meter(sample_rng(31_337, 3))
    left, top, right, bottom = 40, 60, 330, 150
    crop = np.array([[left, top], [right, top], [right, bottom], [left, bottom]], dtype=np.float64)
    trained = cropped_view(sample.image, crop, refine_frame(crop)).astype(np.float64)
    alone = sample.image.crop((left, top, right, bottom))
    served = pipeline.start(alone, MeterOptions(mode="window")).view[0]
    difference = np.abs(trained - served * 255)
    assert difference.mean() < 3 and np.median(difference) < 1.5, difference.mean()
    black = served.max(axis=2) == 0
    assert black.mean() > 0.3 and (trained[black] == 0).mean() > 0.97  # the same black beyond the crop
    rng = np.random.default_rng(5)
    for _ in range(20):  # a random window view always holds part of the row, and black round it
        inputs, mask = window_view(sample.image, sample.corners, rng)
        assert mask.max() == 255 and (inputs.max(axis=2) == 0).mean() > 0.2
