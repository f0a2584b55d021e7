"""The pipeline's model-free steps: mode choice, colour handling, window crop and cells."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from meter_service import locate, pipeline
from meter_service.geometry import quad_iou
from meter_service.pipeline import MeterOptions, Thresholds
from meter_service.reader import NUM_CLASSES, class_of
from meter_service.synth import render_window
from recognition_common.edge.errors import ApiError


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
    assert cut.corners is None and cut.crop.size == (100, 32)
    assert len(cut.candidates) == len(pipeline.ALIGNMENTS)  # the whole image, cut a little apart
    assert cut.cells.shape == (5, 32, 20, 3) and cut.cells.dtype == np.float32
    assert cut.alternatives_input.shape == (5 * len(pipeline.ALIGNMENTS) - 5, 32, 20, 3)
    centres = cut.cells[:, 8:24, 4:16].mean(axis=(1, 2, 3)) * 255
    np.testing.assert_allclose(centres, levels, atol=1.5)


def test_window_mode_also_reads_the_row_found_inside_a_loose_crop() -> None:
    sample = render_window([0, 2, 5, 7, 2.4], rng=np.random.default_rng(3), loose=0.3)
    job = pipeline.start(sample.image, MeterOptions(mode="window", wheels=5))
    passes = 0
    while job.view is not None:
        pipeline.located(job, painted_mask(sample.corners, job.view_frame, job.view.shape[1:3]))
        passes += 1
    assert passes == pipeline.WINDOW_REFINEMENTS
    cut = pipeline.cut(job)
    count = len(pipeline.ALIGNMENTS)
    assert len(cut.candidates) == 2 * count  # the row found in the crop, then the whole crop
    assert cut.alternatives_input.shape == (10 * count - 5, 32, 20, 3)
    assert quad_iou(job.window.corners, sample.corners) > 0.85
    row = pipeline.aligned_cuts(job.image, job.window.corners, 5, keep_corners=False)[0]
    whole = pipeline.aligned_cuts(job.image, job.whole, 5, keep_corners=False)[0]
    np.testing.assert_array_equal(cut.cells, row.cells)
    np.testing.assert_array_equal(cut.candidates[count].cells, whole.cells)
    # The surest reading is the answer: here the whole crop's cut, read confidently.
    unsure, sure = probabilities_for([1, 1, 1, 1, 1], 0.3), probabilities_for([0, 2, 5, 7, 2.4], 0.999)
    rows = [sure if index == count else unsure for index in range(2 * count)]
    thresholds = Thresholds(0.5, 0.5)
    assert pipeline.unsure(cut, rows[0])  # so the alternatives are read too
    result = pipeline.finish(job, cut, np.concatenate(rows), thresholds)
    assert result["text"] == "02572" and result["rejected"] is False
    assert result["corners"] is None and result["mode"] == "window"
    assert result["crop_png_base64"] == pipeline.png_base64(cut.candidates[count].crop)
    # A sure reading of the cut as located needs no second look; one a little less sure gets it.
    assert not pipeline.unsure(cut, sure)
    assert pipeline.unsure(cut, probabilities_for([0, 2, 5, 7, 2.4], 0.99))
    only_first = pipeline.finish(job, cut, sure, thresholds)
    assert only_first["crop_png_base64"] == pipeline.png_base64(cut.crop)


def test_a_row_found_without_a_wheel_the_whole_crop_reads_puts_the_count_in_doubt() -> None:
    """wheels=auto in window mode: the row found inside the crop is cut tighter than the crop,
    so its count tends to win. When it leaves out an end wheel that the whole crop reads
    confidently, the count is in doubt: the whole crop's reading is the answer when it is the
    surer one, and otherwise the reading is refused, never returned one wheel short."""
    positions = [9.0, 3.0, 6.0, 3.0, 5.0]
    sample = render_window(positions, rng=np.random.default_rng(3), loose=0.05)
    corners = sample.corners.astype(np.float64)
    row = corners.copy()  # the locator's row: the first four wheels only
    row[1] = corners[0] + (corners[1] - corners[0]) * 0.8
    row[2] = corners[3] + (corners[2] - corners[3]) * 0.8
    job = pipeline.start(sample.image, MeterOptions(mode="window"))
    while job.view is not None:
        pipeline.located(job, painted_mask(row, job.view_frame, job.view.shape[1:3]))
    window = pipeline.cut(job)
    probes = [probe for cut in window.by_count for probe in pipeline.probes(cut)]
    assert {probe.whole for probe in probes} == {True, False}
    for probe in probes:  # the tight row repeats more cleanly than the loose crop
        probe.periodicity = 0.3 if probe.whole else 0.5

    def read(row_confidence: float, whole_confidence: float) -> dict:
        rows = []
        for probe in probes:
            count = len(probe.cells)
            if count == 4 and not probe.whole:
                rows.append(probabilities_for(positions[:4], row_confidence))
            elif count == 5 and probe.whole:
                rows.append(probabilities_for(positions, whole_confidence))
            else:
                rows.append(probabilities_for([1.0] * count, 0.4))
        chosen, probabilities = pipeline.count_wheels(window, np.concatenate(rows))
        assert len(chosen.cells) == 4  # the row's count scores best...
        assert chosen.rival is not None and len(chosen.rival.cut.cells) == 5  # ...the crop reads 5
        assert chosen.rival.cut.whole
        return pipeline.finish(job, chosen, probabilities, Thresholds(0.5, 0.5))

    surer_whole = read(0.99, 0.9999)
    assert surer_whole["text"] == "93635" and surer_whole["rejected"] is False
    whole_of_5 = next(probe for probe in pipeline.probes(window.by_count[1]) if probe.whole)
    assert surer_whole["crop_png_base64"] == pipeline.png_base64(whole_of_5.crop)
    doubtful = read(0.9999, 0.995)
    assert doubtful["text"] == "9363" and doubtful["rejected"] is True
    assert "number of wheels unsure" in doubtful["reject_reason"]
    assert "the whole crop 5" in doubtful["reject_reason"]
    # A whole crop a little over WHOLE_COUNT_SURE sure of its five wheels puts the four in doubt
    # too (an 8-wheel strip read as 7 had its whole crop at 0.80); one below it casts none.
    per_wheel = pipeline.WHOLE_COUNT_SURE ** (1 / 5)
    assert read(0.9999, per_wheel + 0.01)["rejected"] is True
    unsure_whole = read(0.9999, per_wheel - 0.03)
    assert unsure_whole["text"] == "9363" and unsure_whole["rejected"] is False


def test_aligned_cuts_start_with_the_window_as_located() -> None:
    image = Image.new("RGB", (400, 300))
    ImageDraw.Draw(image).rectangle([100, 100, 299, 139], fill=(255, 255, 255))  # a 200x40 row
    corners = np.array([[100, 100], [300, 100], [300, 140], [100, 140]], dtype=np.float32)
    cuts = pipeline.aligned_cuts(image, corners, 5, keep_corners=True)
    assert len(cuts) == len(pipeline.ALIGNMENTS)
    np.testing.assert_allclose(cuts[0].corners, corners, atol=1e-3)
    assert np.asarray(cuts[0].crop).min() > 200  # all row, no black margin
    for (shift, stretch), cut in zip(pipeline.ALIGNMENTS, cuts, strict=True):
        left, right = 100 + 200 * (shift - stretch / 2), 300 + 200 * (shift + stretch / 2)
        np.testing.assert_allclose(cut.corners[[0, 1], 0], [left, right], atol=1e-3)
        assert cut.crop.size == (100, 32) and cut.cells.shape == (5, 32, 20, 3)


def probabilities_for(positions: list[float], confidence: float) -> np.ndarray:
    rows = np.full((len(positions), NUM_CLASSES), (1 - confidence) / (NUM_CLASSES - 1))
    for row, position in zip(rows, positions, strict=True):
        row[class_of(position)] = confidence
    return rows


def test_a_blank_picture_is_refused_as_empty_in_every_mode() -> None:
    for mode in ("photo", "window", "auto"):
        with pytest.raises(ApiError) as raised:
            pipeline.start(Image.new("RGB", (320, 60), (200, 200, 200)), MeterOptions(mode=mode))
        assert raised.value.status == 422 and raised.value.code == "empty_image"


def test_photo_mode_refuses_a_photo_without_a_window() -> None:
    texture = np.random.default_rng(1).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    job = pipeline.start(Image.fromarray(texture), MeterOptions(mode="photo", wheels=5))
    assert job.view is not None and job.view.shape[0] == 1
    with pytest.raises(ApiError) as raised:
        pipeline.located(job, np.zeros(job.view.shape[1:3], dtype=np.float32))
    assert raised.value.status == 422 and "no counter window" in raised.value.message


def test_a_located_window_is_refined_then_cut() -> None:
    sample = render_window([0, 2, 5, 7, 2.4], rng=np.random.default_rng(3))
    photo = Image.new("RGB", (400, 300), (90, 90, 90))
    photo.paste(sample.image, (100, 120))
    job = pipeline.start(photo, MeterOptions(mode="photo", wheels=5))
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
    height, width = shape[0] // 2, shape[1] // 2
    to_view = np.linalg.inv(frame.to_image)
    points = np.c_[corners, np.ones(4)] @ to_view.T
    points = points[:, :2] / points[:, 2:3] / 2
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).polygon([tuple(p) for p in points], fill=255)
    return np.asarray(mask, dtype=np.float32)[..., None] / 255
