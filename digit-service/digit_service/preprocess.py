"""Make real-world digit images look like MNIST.

MNIST digits are white ink on black, cropped to the ink, scaled to fit 20x20 with their aspect
kept, and placed in 28x28 with their centre of mass in the middle, with strokes about 2-3 pixels
wide. A canvas drawing, a phone photo or a scan looks nothing like that, and a model fed a raw
resize (the seed project's approach) fails on digits that are off-centre, small, thin or drawn
at the edge. The steps, in order:

1. flatten transparency onto a background that contrasts with the strokes;
2. work at a bounded resolution (photos are shrunk, never enlarged);
3. make ink bright on dark, judging the background by the image border;
4. subtract a smooth background estimate, so shadows and uneven light are not ink;
5. find the ink (empty canvases are refused, not guessed), group strokes into digits left to
   right, and split digits that touch;
6. per digit: normalise stroke thickness, crop, fit into 20x20, centre by mass in 28x28.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from recognition_common import errors
from recognition_common.errors import ApiError

PREPROCESS_VERSION = "digit-mnist-1"

# Working resolution: a digit needs ~40 px of height to be read, not more. Bounding both sides keeps
# pre-processing near a millisecond for a canvas and bounded for a 12-megapixel photo.
WORK_SHORT_SIDE = 128
WORK_LONG_SIDE = 512
FIT_BOX = 20  # MNIST: the digit's bounding box is scaled to fit 20x20 ...
CANVAS = 28  # ... and placed in 28x28 by its centre of mass
TARGET_STROKE = 2.8  # MNIST's typical stroke width, in pixels of the 20x20 box
MIN_CONTRAST = 0.12  # peak ink below this (0..1) is an empty canvas, not a faint digit
MAX_DIGITS = 32


@dataclass(frozen=True)
class DigitSample:
    """One digit as the model sees it, and where it was found in the original image."""

    pixels: np.ndarray  # (28, 28) float32 in [0, 1], white ink on black
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the original image's pixels


def prepare_digits(image: Image.Image) -> list[DigitSample]:
    """All digits of an image, left to right, normalised like MNIST."""
    gray, scale = _to_working_gray(image)
    ink = _ink_map(gray)
    mask, peak = _ink_mask(ink)
    groups = _digit_groups(mask)
    samples = []
    for rows, cols, group_mask in groups:
        pixels = _normalise_digit(ink[rows, cols] * group_mask, group_mask, peak)
        box = (
            int(cols.start / scale),
            int(rows.start / scale),
            int(np.ceil(cols.stop / scale)),
            int(np.ceil(rows.stop / scale)),
        )
        samples.append(DigitSample(pixels=pixels, box=box))
    return samples


def _to_working_gray(image: Image.Image) -> tuple[np.ndarray, float]:
    """Grayscale float image in [0, 1] at a bounded size, and the scale applied."""
    if image.mode in ("LA", "RGBA"):
        image = _flatten_alpha(image)
    gray = image.convert("L")
    scale = min(1.0, WORK_SHORT_SIDE / min(gray.size), WORK_LONG_SIDE / max(gray.size))
    if scale < 1.0:
        size = (max(1, round(gray.width * scale)), max(1, round(gray.height * scale)))
        gray = gray.resize(size, Image.Resampling.BOX)
        scale = size[0] / image.width
    return np.asarray(gray, dtype=np.float32) / 255.0, scale


def _flatten_alpha(image: Image.Image) -> Image.Image:
    """Composite onto white for dark strokes and onto black for light ones.

    Canvas exports often have a transparent background whose hidden colour is black: dropping the
    alpha would turn a black-on-transparent drawing into black on black.
    """
    rgba = image.convert("RGBA")
    alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255.0
    if alpha.min() > 0.98:
        return rgba.convert("RGB")
    luminance = np.asarray(rgba.convert("L"), dtype=np.float32)
    opaque = alpha > 0.5
    stroke_level = float(np.median(luminance[opaque])) if opaque.any() else 0.0
    background = 255.0 if stroke_level < 128 else 0.0
    flat = luminance * alpha + background * (1.0 - alpha)
    return Image.fromarray(np.clip(flat, 0, 255).astype(np.uint8), mode="L")


def _ink_map(gray: np.ndarray) -> np.ndarray:
    """Ink strength in [0, 1]: bright strokes on a flat black background."""
    height, width = gray.shape
    frame = max(1, min(height, width) // 50)
    border = np.concatenate(
        [gray[:frame].ravel(), gray[-frame:].ravel(), gray[:, :frame].ravel(), gray[:, -frame:].ravel()]
    )
    if _median(border) > 0.5:  # light background: dark ink
        gray = 1.0 - gray
    # The background is what survives an opening much wider than any stroke: a smooth lower
    # envelope that follows shadows and gradients but not the digits. Being smooth, it is
    # estimated at a quarter of the resolution and scaled back up (16x less work).
    small = _resize(gray, (max(1, width // 4), max(1, height // 4)), Image.Resampling.BOX)
    size = max(3, int(0.3 * max(small.shape)))
    background = ndimage.grey_opening(small, size=(size, size), mode="nearest")
    background = ndimage.uniform_filter(background, size=max(3, size // 2), mode="nearest")
    background = _resize(background, (width, height), Image.Resampling.BILINEAR)
    return np.clip(gray - background, 0.0, 1.0)


def _resize(values: np.ndarray, size: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    """Resize a float image (any range) to (width, height)."""
    return np.asarray(Image.fromarray(values.astype(np.float32), mode="F").resize(size, resample))


def _ink_mask(ink: np.ndarray) -> tuple[np.ndarray, float]:
    peak = _percentile(ink, 99.9)
    # Noise: the spread of the (mostly background) pixels, from every 3rd pixel, which is plenty
    # for a median. Ink must stand well clear of it.
    sample = ink.ravel()[::3]
    median = _median(sample)
    noise = median + 3.0 * _median(np.abs(sample - median))
    if peak < max(MIN_CONTRAST, 3.0 * noise):
        raise ApiError(422, errors.EMPTY_IMAGE, "no digit found: the image is empty or has no contrast")
    mask = ink > max(0.35 * peak, noise + 0.04)
    return mask, peak


Slice2D = tuple[slice, slice, np.ndarray]


def _digit_groups(mask: np.ndarray) -> list[Slice2D]:
    """Connected strokes grouped into digits by horizontal overlap, left to right."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        raise ApiError(422, errors.EMPTY_IMAGE, "no digit found: the image is empty")
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    boxes = ndimage.find_objects(labels)
    largest = float(areas.max())
    parts = [
        (index + 1, box)
        for index, box in enumerate(boxes)
        if box is not None and areas[index] >= max(3.0, 0.02 * largest)
    ]
    if not parts:  # only specks of a pixel or two: noise, not strokes
        raise ApiError(422, errors.EMPTY_IMAGE, "no digit found: only specks, no strokes")
    parts.sort(key=lambda part: part[1][1].start)

    # Merge strokes that share columns (the bar of a 5, the two strokes of a 4 or 7).
    groups: list[dict] = []
    for label, (rows, cols) in parts:
        if groups and _overlap(groups[-1]["cols"], cols) >= 0.4 * min(
            groups[-1]["cols"][1] - groups[-1]["cols"][0], cols.stop - cols.start
        ):
            group = groups[-1]
            group["labels"].append(label)
            group["rows"] = (min(group["rows"][0], rows.start), max(group["rows"][1], rows.stop))
            group["cols"] = (min(group["cols"][0], cols.start), max(group["cols"][1], cols.stop))
        else:
            groups.append(
                {"labels": [label], "rows": (rows.start, rows.stop), "cols": (cols.start, cols.stop)}
            )

    tallest = max(group["rows"][1] - group["rows"][0] for group in groups)
    result: list[Slice2D] = []
    for group in groups:
        height = group["rows"][1] - group["rows"][0]
        if height < 0.25 * tallest:  # a stray dot or comma between digits
            continue
        rows = slice(*group["rows"])
        cols = slice(*group["cols"])
        window = labels[rows, cols]
        if len(group["labels"]) == 1:
            group_mask = window == group["labels"][0]
        else:
            group_mask = np.isin(window, group["labels"])
        result.extend(_split_touching(rows, cols, group_mask))
    if len(result) > MAX_DIGITS:
        raise ApiError(422, errors.UNREADABLE_IMAGE, f"more than {MAX_DIGITS} marks found; not a number")
    return result


def _overlap(a: tuple[int, int], b: slice) -> int:
    return max(0, min(a[1], b.stop) - max(a[0], b.start))


def _split_touching(rows: slice, cols: slice, group_mask: np.ndarray) -> list[Slice2D]:
    """Split a group much wider than a digit at the thinnest columns near equal divisions."""
    height, width = group_mask.shape
    pieces = round(width / (0.8 * height)) if width > 1.3 * height else 1
    if pieces <= 1:
        return [(rows, cols, group_mask)]
    profile = group_mask.sum(axis=0).astype(np.float32)
    cuts = [0]
    for piece in range(1, pieces):
        centre = int(piece * width / pieces)
        window = max(1, width // (3 * pieces))
        lo, hi = max(cuts[-1] + 1, centre - window), min(width - 1, centre + window)
        cuts.append(lo + int(np.argmin(profile[lo:hi])) if hi > lo else centre)
    cuts.append(width)
    result = []
    for start, stop in itertools.pairwise(cuts):
        piece_mask = group_mask[:, start:stop]
        filled_rows = np.flatnonzero(piece_mask.any(axis=1))
        if filled_rows.size == 0:
            continue
        top, bottom = int(filled_rows[0]), int(filled_rows[-1]) + 1
        result.append(
            (
                slice(rows.start + top, rows.start + bottom),
                slice(cols.start + start, cols.start + stop),
                piece_mask[top:bottom],
            )
        )
    return result


def _normalise_digit(ink: np.ndarray, mask: np.ndarray, peak: float) -> np.ndarray:
    """Stroke width, fit into 20x20 with aspect kept, centre of mass at the centre of 28x28."""
    height, width = mask.shape
    scale = FIT_BOX / max(height, width)
    pad = max(2, int(0.1 * max(height, width)))
    ink = _pad(ink / max(peak, 1e-6), pad)
    mask = _pad(mask, pad)

    # Stroke width ~ 2 * area / perimeter; bring it to MNIST's width at the final scale.
    area = float(mask.sum())
    perimeter = area - float(_erode(mask).sum())  # the erosion lies inside the mask
    stroke = 2.0 * area / max(perimeter, 1.0)
    target = TARGET_STROKE / scale
    if stroke < 0.8 * target:
        grow = max(1, round((target - stroke) / 2.0))
        ink = ndimage.grey_dilation(ink, size=(2 * grow + 1, 2 * grow + 1))
    elif stroke > 1.6 * target:
        shrink = round((stroke - target) / 2.0)
        if shrink > 0:
            eroded = ndimage.grey_erosion(ink, size=(2 * shrink + 1, 2 * shrink + 1))
            if eroded.max() > 0.3:  # never erode a digit away
                ink = eroded
    ink = np.clip(ink, 0.0, 1.0)

    # Crop to the ink again (dilation grew it), then fit into the 20x20 box.
    inked = ink > 0.1
    filled_rows = np.flatnonzero(inked.any(axis=1))
    filled_cols = np.flatnonzero(inked.any(axis=0))
    top, bottom = filled_rows[0], filled_rows[-1] + 1
    left, right = filled_cols[0], filled_cols[-1] + 1
    ink = ink[top:bottom, left:right]
    height, width = ink.shape
    scale = FIT_BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    fitted = (
        np.asarray(
            Image.fromarray((ink * 255).astype(np.uint8), mode="L").resize(size, resample), dtype=np.float32
        )
        / 255.0
    )
    if fitted.max() > 0:
        fitted = np.clip(fitted / fitted.max(), 0.0, 1.0)

    canvas = np.zeros((CANVAS, CANVAS), dtype=np.float32)
    fh, fw = fitted.shape
    cy, cx = _centre_of_mass(fitted)
    top = round(CANVAS / 2 - cy)
    left = round(CANVAS / 2 - cx)
    top = min(max(top, 0), CANVAS - fh)
    left = min(max(left, 0), CANVAS - fw)
    canvas[top : top + fh, left : left + fw] = fitted
    return canvas


def _pad(values: np.ndarray, pad: int) -> np.ndarray:
    """`np.pad` with zeros on every side, minus its general-purpose overhead."""
    padded = np.zeros((values.shape[0] + 2 * pad, values.shape[1] + 2 * pad), dtype=values.dtype)
    padded[pad:-pad, pad:-pad] = values
    return padded


def _erode(mask: np.ndarray) -> np.ndarray:
    """`ndimage.binary_erosion` with its default cross, for a mask whose border is empty (the
    digit is padded): the same pixels, without scipy's per-call overhead on small arrays."""
    eroded = np.zeros_like(mask)
    eroded[1:-1, 1:-1] = (
        mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
    )
    return eroded


def _median(values: np.ndarray) -> float:
    return _percentile(values, 50.0)


def _percentile(values: np.ndarray, q: float) -> float:
    """`np.percentile` (linear interpolation) by partitioning two elements instead of the
    general machinery, which costs more than the partition itself on canvas-sized arrays."""
    flat = values.ravel()
    index = q / 100.0 * (flat.size - 1)
    low = int(index)
    high = min(low + 1, flat.size - 1)
    part = np.partition(flat, (low, high))
    below, above = float(part[low]), float(part[high])
    fraction = index - low
    # numpy's lerp, evaluated from the nearer end
    if fraction >= 0.5:
        return above - (above - below) * (1.0 - fraction)
    return below + (above - below) * fraction


def _centre_of_mass(pixels: np.ndarray) -> tuple[float, float]:
    total = float(pixels.sum())
    if total <= 0:
        return pixels.shape[0] / 2, pixels.shape[1] / 2
    rows = np.arange(pixels.shape[0], dtype=np.float32)
    cols = np.arange(pixels.shape[1], dtype=np.float32)
    return float(pixels.sum(axis=1) @ rows) / total, float(pixels.sum(axis=0) @ cols) / total
