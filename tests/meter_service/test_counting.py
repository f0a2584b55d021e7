"""Counting the wheels (`wheels=auto`) and finding the red decimal wheels, without the models."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from meter_service import pipeline
from meter_service.odometer import MAX_WHEELS, MIN_WHEELS, wheel_positions
from meter_service.pipeline import Cut, MeterOptions, count_wheels, periodicity, red_wheels
from meter_service.reader import NUM_CLASSES, class_of
from meter_service.synth import random_window_style, render_window

BLACK, WHITE, RED = (20, 20, 20), (235, 235, 235), (200, 30, 40)


def cells(colours: list[tuple[int, int, int]], ink: tuple[int, int, int] | None = None) -> np.ndarray:
    """Reader cells of plain colour, with a bar of `ink` (a digit's stroke) in each when given."""
    out = np.zeros((len(colours), 32, 20, 3), dtype=np.float32)
    for index, colour in enumerate(colours):
        out[index] = np.array(colour) / 255
        if ink is not None:
            out[index, 6:26, 8:12] = np.array(ink) / 255
    return out


def test_trailing_red_wheels_are_the_decimals() -> None:
    assert red_wheels(cells([BLACK] * 5 + [RED] * 3, ink=WHITE)) == 3
    assert red_wheels(cells([BLACK] * 4 + [RED], ink=WHITE)) == 1
    # Red ink on white drums: only the strokes are red.
    assert red_wheels(cells([WHITE] * 5, ink=BLACK)[:5].copy()) == 0
    ink_red = np.concatenate([cells([WHITE] * 5, ink=BLACK), cells([WHITE] * 2, ink=RED)])
    ink_red[5:, 4:28, 4:16] = np.array(RED) / 255  # a thick red digit
    assert red_wheels(ink_red) == 2


def test_no_red_wheels_without_a_clear_step() -> None:
    assert red_wheels(cells([BLACK] * 8, ink=WHITE)) == 0
    assert red_wheels(cells([RED] * 6, ink=WHITE)) == 0  # all red: nothing sets the decimals apart
    reddish = cells([(120, 80, 80)] * 6, ink=WHITE)  # a warm colour cast on every wheel
    assert red_wheels(reddish) == 0
    # Red in the middle is not a decimal run; and never more than MAX_DECIMALS or too few black.
    assert red_wheels(cells([BLACK, BLACK, RED, RED, BLACK, BLACK], ink=WHITE)) == 0
    assert red_wheels(cells([BLACK, BLACK] + [RED] * 4, ink=WHITE)) <= 3


def bars(count: int, width: int = 320, height: int = 40) -> Image.Image:
    """A crop of `count` light digits (bars) evenly across a dark row."""
    image = Image.new("RGB", (width, height), BLACK)
    draw = ImageDraw.Draw(image)
    pitch = width / count
    for index in range(count):
        left = index * pitch + pitch * 0.3
        draw.rectangle([left, 8, left + pitch * 0.4, height - 8], fill=WHITE)
    return image


def test_periodicity_peaks_at_the_number_of_cells() -> None:
    for count in range(MIN_WHEELS, MAX_WHEELS + 1):
        scores = {n: periodicity(bars(count), n) for n in range(MIN_WHEELS, MAX_WHEELS + 1)}
        assert max(scores, key=scores.__getitem__) == count, scores
    assert periodicity(Image.new("RGB", (100, 32), BLACK), 5) == 0.0


def sure(position: float, confidence: float) -> np.ndarray:
    p = np.full(NUM_CLASSES, (1 - confidence) / (NUM_CLASSES - 1))
    p[class_of(position)] = confidence
    return p


def test_the_count_that_reads_surest_is_kept() -> None:
    sample = render_window(wheel_positions(314536.0, 6), rng=np.random.default_rng(3))
    job = pipeline.start(sample.image, MeterOptions(mode="window"))
    job.view = None  # no locator pass: the whole crop is the row
    window = pipeline.cut(job)
    assert [len(cut.cells) for cut in window.by_count] == list(range(MIN_WHEELS, MAX_WHEELS + 1))
    probes = [probe for cut in window.by_count for probe in pipeline.probes(cut)]
    assert len(window.cells) == sum(len(probe.cells) for probe in probes)
    # Fake reader output: every probe of 6 wheels reads sure, every other count unsure.
    rows = np.concatenate([
        np.stack([sure(3.0, 0.97 if len(probe.cells) == 6 else 0.4) for _ in range(len(probe.cells))])
        for probe in probes
    ])  # fmt: skip
    chosen, probabilities = count_wheels(window, rows)
    assert len(chosen.cells) == 6 and probabilities.shape == (6, NUM_CLASSES)
    assert all(len(candidate.cells) == 6 for candidate in chosen.candidates)


def test_fewer_wheels_than_a_count_that_reads_nearly_as_well_are_refused() -> None:
    """Real wheels squeezed two to a cell can read about as surely as one to a cell: a 7-wheel
    strip read as 4 came back confidently wrong. When a higher count scores within COUNT_MARGIN
    of the one kept, the reading is refused as unsure of its wheels; a clear winner is not."""
    sample = render_window(wheel_positions(1961887.0, 7), rng=np.random.default_rng(6))
    job = pipeline.start(sample.image, MeterOptions(mode="window"))
    job.view = None
    window = pipeline.cut(job)
    probes = [probe for cut in window.by_count for probe in pipeline.probes(cut)]
    for probe in probes:
        probe.periodicity = 0.5  # the counts alike but for the reader's confidence

    def read(seven: float) -> dict:
        rows = np.concatenate([
            np.stack([sure(3.0, {4: 0.99, 7: seven}.get(len(probe.cells), 0.3))] * len(probe.cells))
            for probe in probes
        ])  # fmt: skip
        chosen, probabilities = count_wheels(window, rows)
        assert len(chosen.cells) == 4
        return pipeline.finish(job, chosen, probabilities, pipeline.Thresholds(0.5, 0.5))

    margin = pipeline.COUNT_MARGIN
    close = read(0.99 * math.exp(-margin / 2))  # mean log confidence margin / 2 below the 4
    assert close["rejected"] is True and len(close["digits"]) == 4
    assert "number of wheels unsure: 4 wheels read, 7 read nearly as well" in close["reject_reason"]
    clear = read(0.99 * math.exp(-2 * margin))
    assert clear["rejected"] is False and clear["text"] == "3333"


def test_a_given_count_is_cut_once() -> None:
    style = random_window_style(np.random.default_rng(4), 5)
    sample = render_window(wheel_positions(2572.0, 5), style=style, rng=np.random.default_rng(4))
    job = pipeline.start(sample.image, MeterOptions(mode="window", wheels=5))
    job.view = None
    window = pipeline.cut(job)
    assert not window.by_count and len(window.cells) == 5
    same, probabilities = count_wheels(window, np.zeros((5, NUM_CLASSES)))
    assert same is window and probabilities.shape == (5, NUM_CLASSES)


def test_cut_marks_the_whole_crop() -> None:
    sample = render_window(wheel_positions(12.0, 5), rng=np.random.default_rng(5))
    job = pipeline.start(sample.image, MeterOptions(mode="window", wheels=5))
    job.view = None
    assert isinstance(pipeline.cut(job), Cut) and pipeline.cut(job).whole
