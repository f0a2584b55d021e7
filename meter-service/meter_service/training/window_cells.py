"""Wheel cells cut from generated meter photos the way the service cuts them, for the reader.

The reader's real crops were cut by other people's cameras; the service cuts its own, from a
rectified window (`pipeline.aligned_cuts`), where the cell borders fall a little differently,
small and blurry windows are shrunk from a few pixels, and a located window's corners are off
by a percent or two. Cells of `synth.generate_meter` photos (and some `synth.render_window`
crops) cut with that same code at slightly jittered true corners teach the reader those cuts.

Each cell is labelled with where its wheel appears to stand in that cell, snapped to the tenth
class: the wheel's shown position (its drum's own offset taken in, `MeterSample.shown`) moved by
how far the jittered cut sits above or below the true row there, in digits of the drum's pitch.
A cut 0.04 of the row low shows the digits higher, just as a wheel further round would. The
reader learns to say what the cell shows; `reading.compose` takes the offset the wheels of a
row share (their drums' mounting and the cut's) off afterwards, from the wheels at rest.

Seeds: photo `i` is `synth.sample_rng(seed, i)` with `seed` >= 100000 by default, far from the
held-out evaluation's 2026; the jitter and window crops use their own streams of the same seed.
The cells are cached as a .npz under ~/.cache/recognition/ (keyed by counts, seed and version),
so a re-run is quick.
"""

from __future__ import annotations

import math
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from meter_service.reader import CROP_HEIGHT, CROP_WIDTH, class_of
from meter_service.training.reader_data import SEGMENT_SHARE

if TYPE_CHECKING:
    from meter_service.synth import MeterSample

DEFAULT_CACHE = Path.home() / ".cache" / "recognition" / "window-cells"
DEFAULT_SEED = 100_000  # never the evaluation's 2026
VERSION = 3  # bump when the cutting, jitter, labels or looks change: a new cache file
WHEEL_CHOICES = (4, 5, 5, 5, 5, 5, 6, 7, 8)  # mostly the default 5, some other counters
# Jitter of the true corners, in row widths (along) and heights (across), standard deviations:
# about what the locator gets wrong (it places the row's ends to ~1.4% of the width).
SHIFT_ALONG, STRETCH_ALONG = 0.01, 0.015
SHIFT_ACROSS, STRETCH_ACROSS = 0.04, 0.06
CORNER_NOISE = (0.004, 0.02)  # per corner, along / across: slight perspective
MAX_TURN_DEGREES = 1.5
_JITTER_STREAM, _WINDOW_STREAM = 2, 1

JITTER = (
    f"true corners moved in row coordinates: shift N(0, {SHIFT_ALONG:g}) of the width and "
    f"N(0, {SHIFT_ACROSS:g}) of the height, stretch N(0, {STRETCH_ALONG:g}) / N(0, {STRETCH_ACROSS:g}), "
    f"turn U(+/-{MAX_TURN_DEGREES:g} deg), each corner N(0, {CORNER_NOISE[0]:g}) / N(0, {CORNER_NOISE[1]:g})"
)


def jittered(corners: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The quad `corners` (TL, TR, BR, BL) moved a little, as a locator might place it."""
    from meter_service.geometry import UNIT_SQUARE, homography, quad_size, transform_points

    width, height = quad_size(np.asarray(corners, dtype=np.float64))
    aspect = width / max(height, 1e-6)
    shift_u, shift_v = rng.normal(0, SHIFT_ALONG), rng.normal(0, SHIFT_ACROSS)
    stretch_u, stretch_v = rng.normal(0, STRETCH_ALONG), rng.normal(0, STRETCH_ACROSS)
    moved = UNIT_SQUARE.copy()
    moved[:, 0] = shift_u + (moved[:, 0] - 0.5) * (1 + stretch_u) + 0.5
    moved[:, 1] = shift_v + (moved[:, 1] - 0.5) * (1 + stretch_v) + 0.5
    turn = math.tan(math.radians(rng.uniform(-MAX_TURN_DEGREES, MAX_TURN_DEGREES)))
    moved[:, 1] += (moved[:, 0] - 0.5) * aspect * turn
    moved += rng.normal(0, 1, size=(4, 2)) * CORNER_NOISE
    to_image = homography(UNIT_SQUARE, np.asarray(corners, dtype=np.float64))
    return transform_points(to_image, moved).astype(np.float32)


def cell_labels(sample: MeterSample, cut: np.ndarray) -> list[int]:
    """The tenth class each cell of `sample` shows when its row is cut at the quad `cut`."""
    from meter_service.geometry import UNIT_SQUARE, homography, transform_points

    assert sample.window_style is not None
    wheels = sample.wheels
    centres = np.stack([(np.arange(wheels) + 0.5) / wheels, np.full(wheels, 0.5)], axis=1)
    in_image = transform_points(homography(UNIT_SQUARE, np.asarray(cut, dtype=np.float64)), centres)
    in_row = transform_points(homography(np.asarray(sample.corners, dtype=np.float64), UNIT_SQUARE), in_image)
    low = in_row[:, 1] - 0.5  # how far below the row's middle each cell's middle was cut, in rows
    pitches = [style.pitch for style in sample.window_style.wheel_styles]
    return [
        class_of(shown + drop / pitch) for shown, drop, pitch in zip(sample.shown, low, pitches, strict=True)
    ]


def _cells(image: object, corners: np.ndarray, wheels: int) -> np.ndarray:
    """uint8 (wheels, 32, 20, 3): the service's first cut of `corners`, cut into cells."""
    from meter_service.pipeline import aligned_cuts

    crop = aligned_cuts(image, corners, wheels, keep_corners=False)[0].crop  # type: ignore[arg-type]
    pixels = np.asarray(crop.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(pixels.reshape(CROP_HEIGHT, wheels, CROP_WIDTH, 3).transpose(1, 0, 2, 3))


def _photo(task: tuple[int, int]) -> tuple[np.ndarray, list[int]]:
    from meter_service.synth import generate_meter, sample_rng

    seed, index = task
    jitter = np.random.default_rng([seed, _JITTER_STREAM, index])
    wheels = int(jitter.choice(WHEEL_CHOICES))
    sample = generate_meter(sample_rng(seed, index), wheels=wheels, segments=SEGMENT_SHARE)
    cut = jittered(sample.corners, jitter)
    return _cells(sample.image, cut, wheels), cell_labels(sample, cut)


def _window(task: tuple[int, int]) -> tuple[np.ndarray, list[int]]:
    from meter_service.synth import random_positions, random_window_style, render_window

    seed, index = task
    rng = np.random.default_rng([seed, _WINDOW_STREAM, index])
    wheels = int(rng.choice(WHEEL_CHOICES))
    positions = random_positions(rng, wheels)
    sample = render_window(positions, random_window_style(rng, wheels, SEGMENT_SHARE), rng=rng)
    jitter = np.random.default_rng([seed, _JITTER_STREAM, _WINDOW_STREAM, index])
    cut = jittered(sample.corners, jitter)
    return _cells(sample.image, cut, wheels), cell_labels(sample, cut)


def window_cells(
    photos: int,
    windows: int,
    seed: int = DEFAULT_SEED,
    cache: Path | None = DEFAULT_CACHE,
    workers: int = 2,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Cells of `photos` generated photos and `windows` window crops: uint8 (N, 32, 20, 3), int32
    tenths labels. Cached in `cache` (None: not cached)."""
    path = None
    if cache is not None:
        path = Path(cache) / f"cells-v{VERSION}-seed{seed}-photos{photos}-windows{windows}.npz"
        if path.exists():
            with np.load(path) as stored:
                return stored["pixels"], stored["labels"]
    photo_tasks = [(seed, i) for i in range(photos)]
    window_tasks = [(seed, i) for i in range(windows)]
    results: list[tuple[np.ndarray, list[int]]] = []
    if workers > 1 and len(photo_tasks) + len(window_tasks) > 1:
        with get_context("spawn").Pool(workers) as pool:
            results = pool.map(_photo, photo_tasks, chunksize=16)
            results += pool.map(_window, window_tasks, chunksize=16)
    else:
        results = [_photo(task) for task in photo_tasks] + [_window(task) for task in window_tasks]
    if progress:
        print(f"window cells: {photos} photos + {windows} window crops cut", flush=True)
    if results:
        pixels = np.concatenate([cells for cells, _ in results])
        labels = np.array([label for _, labels in results for label in labels], dtype=np.int32)
    else:
        pixels = np.zeros((0, CROP_HEIGHT, CROP_WIDTH, 3), np.uint8)
        labels = np.zeros(0, np.int32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp.npz")
        np.savez_compressed(partial, pixels=pixels, labels=labels)
        partial.replace(path)
    return pixels, labels
