"""The pipeline's model-free steps: mode choice, colour handling, window crop and cells."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from meter_service import locate, pipeline
from meter_service.geometry import quad_iou
from meter_service.pipeline import MeterOptions, Thresholds
from meter_service.reader import NUM_CLASSES, class_of
from meter_service.synth import render_window
from recognition_common.errors import ApiError


@pytest.mark.parametrize(
    ("size", "mode"),
    [((200, 100), "window"), ((199, 100), "photo"), ((640, 480), "photo"), ((300, 60), "window")],
)
def test_auto_mode_follows_the_aspect(size: tuple[int, int], mode: str) -> None:
    assert pipeline.choose_mode(Image.new("RGB", size), "auto") == mode
    assert pipeline.choose_mode(Image.new("RGB", size), "photo") == "photo"


def test_transparency_is_flattened_onto_white() -> None:
    rgb = pipeline.to_rgb(Image.new("RGBA", (4, 4), (0, 0, 0, 0)))
    assert rgb.mode == "RGB" and rgb.getpixel((0, 0)) == (255, 255, 255)
    assert pipeline.to_rgb(Image.new("L", (4, 4), 7)).getpixel((0, 0)) == (7, 7, 7)


def test_window_mode_cuts_the_whole_image_into_equal_cells() -> None:
    # Five flat cells of known grey levels, 3x the reader's size: each cell must keep its own.
    levels = [20, 70, 120, 170, 220]
    image = Image.new("RGB", (300, 96))
    for index, level in enumerate(levels):
        image.paste((level, level, level), (index * 60, 0, index * 60 + 60, 96))
    job = pipeline.start(image, MeterOptions(mode="auto", wheels=5))
    assert job.mode == "window" and job.view is not None  # the locator looks for the row inside
    assert pipeline.located(job, np.zeros(job.view.shape[1:3], dtype=np.float32)) is None  # none
    cut = pipeline.cut(job)
    assert cut.corners is None and cut.alternative is None and cut.crop.size == (100, 32)
    assert cut.cells.shape == (5, 32, 20, 3) and cut.cells.dtype == np.float32
    assert cut.reader_input is cut.cells
    centres = cut.cells[:, 8:24, 4:16].mean(axis=(1, 2, 3)) * 255
    np.testing.assert_allclose(centres, levels, atol=1.5)


def test_window_mode_also_reads_the_row_found_inside_a_loose_crop() -> None:
    sample = render_window([0, 2, 5, 7, 2.4], rng=np.random.default_rng(3), loose=0.3)
    job = pipeline.start(sample.image, MeterOptions(mode="window"))
    passes = 0
    while job.view is not None:
        pipeline.located(job, painted_mask(sample.corners, job.view_frame, job.view.shape[1:3]))
        passes += 1
    assert passes == pipeline.WINDOW_REFINEMENTS
    cut = pipeline.cut(job)
    assert cut.alternative is not None and cut.reader_input.shape == (10, 32, 20, 3)
    assert quad_iou(job.window.corners, sample.corners) > 0.85
    # The surer of the two readings is the answer: here the row's (second) cells.
    unsure, sure = probabilities_for([1, 1, 1, 1, 1], 0.3), probabilities_for([0, 2, 5, 7, 2.4], 0.95)
    result = pipeline.finish(job, cut, np.concatenate([unsure, sure]), Thresholds(0.5, 0.5))
    assert result["text"] == "02572" and result["rejected"] is False
    assert result["corners"] is None and result["mode"] == "window"
    flipped = pipeline.finish(job, cut, np.concatenate([sure, unsure]), Thresholds(0.5, 0.5))
    assert flipped["text"] == "02572"


def probabilities_for(positions: list[float], confidence: float) -> np.ndarray:
    rows = np.full((len(positions), NUM_CLASSES), (1 - confidence) / (NUM_CLASSES - 1))
    for row, position in zip(rows, positions, strict=True):
        row[class_of(position)] = confidence
    return rows


def test_photo_mode_refuses_a_photo_without_a_window() -> None:
    job = pipeline.start(Image.new("RGB", (320, 240)), MeterOptions(mode="photo"))
    assert job.view is not None and job.view.shape[0] == 1
    with pytest.raises(ApiError) as raised:
        pipeline.located(job, np.zeros(job.view.shape[1:3], dtype=np.float32))
    assert raised.value.status == 422 and "no counter window" in raised.value.message


def test_a_located_window_is_refined_then_cut() -> None:
    sample = render_window([0, 2, 5, 7, 2.4], rng=np.random.default_rng(3))
    photo = Image.new("RGB", (400, 300), (90, 90, 90))
    photo.paste(sample.image, (100, 120))
    job = pipeline.start(photo, MeterOptions(mode="photo"))
    assert job.view is not None
    # A stand-in locator: paint the true row into whatever view it is shown.
    corners = sample.corners + np.array([100, 120], dtype=np.float32)
    passes = 0
    while job.view is not None:
        pipeline.located(job, painted_mask(corners, job.view_frame, job.view.shape[1:3]))
        passes += 1
    assert passes >= locate.REFINEMENTS + 1
    cut = pipeline.cut(job)
    assert cut.crop.size == (100, 32) and cut.score == pytest.approx(1.0)
    assert quad_iou(cut.corners, corners) > 0.9


def painted_mask(corners: np.ndarray, frame, shape: tuple[int, int]) -> np.ndarray:
    """The row's quad drawn into the mask (half the view's resolution) that `frame` describes."""
    from PIL import ImageDraw

    height, width = shape[0] // 2, shape[1] // 2
    to_view = np.linalg.inv(frame.to_image)
    points = np.c_[corners, np.ones(4)] @ to_view.T
    points = points[:, :2] / points[:, 2:3] / 2
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).polygon([tuple(p) for p in points], fill=255)
    return np.asarray(mask, dtype=np.float32)[..., None] / 255
