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
6. per digit: normalise stroke thickness, crop, fit into 20x20, centre by mass in 28x28; a
   digit whose stroke is thick for its size (a small digit drawn with a broad pen) also gets a
   second version thinned to MNIST's stroke, for the model to read as well (`DigitSample.thinned`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image
from scipy import ndimage

from recognition_common.edge import errors
from recognition_common.edge.errors import ApiError

# Working resolution: a digit needs ~40 px of height to be read, not more. Bounding both sides keeps
# pre-processing near a millisecond for a canvas and bounded for a 12-megapixel photo.
WORK_SHORT_SIDE = 128
WORK_LONG_SIDE = 512
FIT_BOX = 20  # MNIST: the digit's bounding box is scaled to fit 20x20 ...
CANVAS = 28  # ... and placed in 28x28 by its centre of mass
TARGET_STROKE = 2.8  # MNIST's typical stroke width, in pixels of the 20x20 box
THIN_STROKE = 0.5  # strokes below this share of TARGET_STROKE are thickened ...
THICK_STROKE = 3.0  # ... and above this share thinned
# Between this share and THICK_STROKE a digit is also offered thinned to TARGET_STROKE
# (`DigitSample.thinned`). Thinning every such digit reads small thick-pen digits better (their
# loops are nearly filled at that stroke) but costs digits that are simply bold, whose thinned
# shapes lose detail: on the validation draw's thick-stroke MNIST digits 98.0% -> 93.4% read
# right. Offering both and keeping the surer (`recognizer.THINNED_SURE`) costs nothing there.
THINNED_STROKE = 1.5
MIN_CONTRAST = 0.12  # peak ink below this (0..1) is an empty canvas, not a faint digit
MAX_DIGITS = 32
# The background is estimated with an opening this share of the image's longer side: wider than
# a marker stroke a third of a canvas-filling digit's height, so such a stroke stays ink.
BACKGROUND_WINDOW = 0.6
# When more than this share of the pixels is at least half the peak ink, the noise is measured on
# the faintest BACKGROUND_SHARE of the pixels, which are paper.
INK_COVER = 0.25
BACKGROUND_SHARE = 0.3


@dataclass(frozen=True)
class DigitSample:
    """One digit as the model sees it, and where it was found in the original image.

    A group of strokes wider than a digit may be one wide digit or two that touch: it then has
    two readings (`reading` 0: whole, 1: split), each with the log-odds its shape alone gives it
    (`prior`), and `choose_readings` settles it with the model's confidence in each.
    """

    pixels: np.ndarray  # (28, 28) float32 in [0, 1], white ink on black
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the original image's pixels
    group: int = 0  # its place among the image's stroke groups, left to right
    reading: int = 0
    prior: float = 0.0
    # The same digit with its stroke thinned to MNIST's, when it is THINNED_STROKE to
    # THICK_STROKE times that (None otherwise: `pixels` are then as thin as they get).
    thinned: np.ndarray | None = None


def prepare_readings(image: Image.Image) -> list[DigitSample]:
    """Every reading of every stroke group of an image, normalised like MNIST, left to right."""
    gray, scale = _to_working_gray(image)
    ink = _ink_map(gray)
    mask, peak = _ink_mask(ink)
    samples = []
    for group, readings in enumerate(_digit_groups(mask)):
        for reading, (prior, pieces) in enumerate(readings):
            for rows, cols, group_mask in pieces:
                digit_ink, digit_mask = _with_soft_edges(ink, mask, rows, cols, group_mask)
                box = (
                    int(cols.start / scale),
                    int(rows.start / scale),
                    int(np.ceil(cols.stop / scale)),
                    int(np.ceil(rows.stop / scale)),
                )
                pixels, thinned = _normalised(digit_ink, digit_mask, peak)
                samples.append(
                    DigitSample(pixels, box, group=group, reading=reading, prior=prior, thinned=thinned)
                )
    return samples


def prepare_digits(image: Image.Image) -> list[DigitSample]:
    """The digits of an image, left to right, each group read as its shape suggests (no model)."""
    samples = prepare_readings(image)
    return [samples[index] for index in choose_readings(samples, np.ones(len(samples)))]


def choose_readings(
    samples: list[DigitSample], confidences: np.ndarray, pair_evidence: Mapping[int, float] | None = None
) -> list[int]:
    """Indices of the samples that make the number: per group, the reading whose digits the model
    is surest of (sum of log confidences) plus the prior its shape gives it, plus, for a group's
    split readings, `pair_evidence[group]` (log-odds that the group is touching digits, from the
    pair detector: `pair_evidence`)."""
    evidence = pair_evidence or {}
    scores: dict[tuple[int, int], float] = {}
    for sample, confidence in zip(samples, confidences, strict=True):
        key = (sample.group, sample.reading)
        start = sample.prior + (evidence.get(sample.group, 0.0) if sample.reading else 0.0)
        scores[key] = scores.get(key, start) + float(np.log(max(float(confidence), 1e-6)))
    best: dict[int, tuple[float, int]] = {}
    for (group, reading), score in scores.items():
        if group not in best or score > best[group][0]:
            best[group] = (score, reading)
    return [index for index, sample in enumerate(samples) if best[sample.group][1] == sample.reading]


def splittable_groups(samples: list[DigitSample]) -> dict[int, int]:
    """Per stroke group that may be one wide digit or touching digits (`_readings`), the index of
    the sample of its whole reading: what the pair detector is shown. Groups read as two pieces
    side by side or as one (`_may_be_one`) are not among them: their whole reading is not first."""
    pieces: dict[int, dict[int, list[int]]] = {}
    for index, sample in enumerate(samples):
        pieces.setdefault(sample.group, {}).setdefault(sample.reading, []).append(index)
    return {
        group: readings[0][0]
        for group, readings in pieces.items()
        if len(readings) > 1 and len(readings[0]) == 1 and all(len(readings[r]) > 1 for r in readings if r)
    }


def pair_evidence(groups: list[int], pair_probabilities: np.ndarray, offset: float) -> dict[int, float]:
    """Log-odds for the split readings of `groups`, from the pair detector's probability that
    each group's whole reading shows touching digits (`pair_probabilities`, rows in that order).

    The detector's log-odds less `offset` (chosen on validation digits when the detector was
    trained, `training/pairs.py`): a group it is unsure of keeps the one-digit reading unless the
    digit model clearly prefers the split one; one it calls a single digit is kept whole more
    firmly than its shape alone would keep it.
    """
    probabilities = np.clip(np.asarray(pair_probabilities, dtype=np.float64).reshape(-1), 1e-6, 1 - 1e-6)
    log_odds = np.log(probabilities / (1.0 - probabilities)) - offset
    return {group: float(value) for group, value in zip(groups, log_odds, strict=True)}


def prepare_single_digit(image: Image.Image) -> np.ndarray:
    """The image's ink as one digit, normalised like MNIST: (28, 28) float32.

    For training on rendered digits, whose label is known to be one digit: the same steps as
    `prepare_digits` except segmentation, so a sample never depends on how its pieces group.
    """
    gray, _ = _to_working_gray(image)
    ink = _ink_map(gray)
    mask, peak = _ink_mask(ink)
    filled_rows = np.flatnonzero(mask.any(axis=1))
    filled_cols = np.flatnonzero(mask.any(axis=0))
    rows = slice(int(filled_rows[0]), int(filled_rows[-1]) + 1)
    cols = slice(int(filled_cols[0]), int(filled_cols[-1]) + 1)
    digit_ink, digit_mask = _with_soft_edges(ink, mask, rows, cols, mask[rows, cols])
    return _normalise_digit(digit_ink, digit_mask, peak)


def _with_soft_edges(
    ink: np.ndarray, mask: np.ndarray, rows: slice, cols: slice, group_mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A digit's ink with the faint pixels around its strokes, and its mask, one pixel wider.

    The mask keeps only ink above a third of the peak; cutting the digit out with it would
    strip the anti-aliased rim that every MNIST stroke has (measured on MNIST validation images:
    10 of 2,000 read wrong with the rim cut, 4 with it kept). Pixels of other digits stay out.
    """
    top, left = max(0, rows.start - 1), max(0, cols.start - 1)
    bottom, right = min(ink.shape[0], rows.stop + 1), min(ink.shape[1], cols.stop + 1)
    own = np.zeros((bottom - top, right - left), dtype=bool)
    own[rows.start - top : rows.stop - top, cols.start - left : cols.stop - left] = group_mask
    others = mask[top:bottom, left:right] & ~own
    rim = ndimage.binary_dilation(own, structure=np.ones((3, 3), dtype=bool)) & ~others
    return ink[top:bottom, left:right] * rim, own


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
    size = max(3, int(BACKGROUND_WINDOW * max(small.shape)))
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
    if np.mean(sample > 0.5 * peak) > INK_COVER:
        # Strong ink covers much of the image (a marker-thick digit drawn to fill the canvas):
        # the median and its spread are ink, not paper, so judge the noise by the faintest
        # pixels instead. Noise alone never gets here: few of its pixels reach half its peak.
        sample = sample[sample <= _percentile(sample, 100 * BACKGROUND_SHARE)]
        median = _median(sample)
    noise = median + 3.0 * _median(np.abs(sample - median))
    if peak < max(MIN_CONTRAST, 3.0 * noise):
        raise ApiError(422, errors.EMPTY_IMAGE, "no digit found: the image is empty or has no contrast")
    mask = ink > max(0.35 * peak, noise + 0.04)
    return mask, peak


Slice2D = tuple[slice, slice, np.ndarray]

# Segmentation: when strokes are pieces of one digit rather than digits of their own.
OVERLAP_MERGE = 0.4  # share of the narrower piece's columns that the other covers: one digit
FRAGMENT_HEIGHT = 0.6  # a piece lower than this share of its neighbour's height is a fragment ...
FRAGMENT_GAP = 0.3  # ... and joins a neighbour this close (share of the neighbour's height) ...
FRAGMENT_ASPECT = 1.6  # ... when the two together are no wider than this times their height
STACKED_ROWS = 0.3  # pieces sharing fewer rows than this share of the lower one are stacked
CLOSE_GAP = 0.5  # neighbours closer than this share of their height, and together no wider ...
CLOSE_ASPECT = 1.0  # ... than this times it, are read both as one digit and as two; the one-
CLOSE_PRIOR_SLOPE = 3.0  # digit reading loses this many log-odds per unit of gap / height
SPLIT_MIN_ASPECT = 0.75  # a group wider than this times its height may be touching digits ...
SPLIT_EVEN_ASPECT = 1.6  # ... at this width, whole and split are even before the model is asked
SPLIT_PRIOR_SLOPE = 3.0  # log-odds for the split reading per unit of width/height beyond that
# Two touching digits: readings cut at up to this many of the thinnest columns, a tenth of the
# width apart (so at most about 7 fit in the middle 60%). Chosen on the validation tail with the
# pair detector (cnn): touching pairs read right 66.2% at 3, 76.0% at 5, 79.0% at 7 and 9; the
# 5,000 digits 99.42% at each.
SPLIT_CANDIDATES = 7


@dataclass
class _Group:
    """Strokes (connected components) that make one digit, and their joint bounding box."""

    labels: list[int]
    top: int
    bottom: int
    left: int
    right: int
    area: int
    spans: list[tuple[int, int]] = field(default_factory=list)  # its strokes' rows, top to bottom

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def inked_height(self) -> int:
        """Rows that hold ink: two fragments far apart are no taller together than apart."""
        rows, reach = 0, -1
        for top, bottom in sorted(self.spans or [(self.top, self.bottom)]):
            rows += max(0, bottom - max(top, reach))
            reach = max(reach, bottom)
        return rows

    @property
    def width(self) -> int:
        return self.right - self.left

    def gap_to(self, other: _Group) -> int:
        """Columns between the two (negative: they overlap by that much)."""
        return max(self.left, other.left) - min(self.right, other.right)

    def absorb(self, other: _Group) -> None:
        self.labels += other.labels
        self.spans = (self.spans or [(self.top, self.bottom)]) + (other.spans or [(other.top, other.bottom)])
        self.top, self.bottom = min(self.top, other.top), max(self.bottom, other.bottom)
        self.left, self.right = min(self.left, other.left), max(self.right, other.right)
        self.area += other.area


Reading = tuple[float, list[Slice2D]]  # a prior (log-odds) and the digits of one reading


def _digit_groups(mask: np.ndarray) -> list[list[Reading]]:
    """Connected strokes grouped into digits, left to right: each group with its readings.

    A pen lifted inside a digit (the bar of a 5 or a 7, the two strokes of a 4) and a stroke
    broken by a faint or skipped stretch (a 2 whose tail is cut off, a 0 with a gap) give several
    components for one digit. They are joined when one covers most of the other's columns, when
    one stands above the other, or when one is a fragment (much lower than its neighbour) close
    beside it and the two together are no wider than a digit. Two full-height strokes side by
    side ("11", or the halves of a 0 open at the top and the bottom) are read both ways when
    together they are no wider than tall, and the model's confidence decides (`choose_readings`);
    so is a group wider than most digits, whole or cut into touching digits (`_readings`).
    """
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        raise ApiError(422, errors.EMPTY_IMAGE, "no digit found: the image is empty")
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    boxes = ndimage.find_objects(labels)
    largest = float(areas.max())
    groups = [
        _Group([index + 1], box[0].start, box[0].stop, box[1].start, box[1].stop, int(areas[index]))
        for index, box in enumerate(boxes)
        if box is not None and areas[index] >= max(3.0, 0.02 * largest)
    ]
    if not groups:  # only specks of a pixel or two: noise, not strokes
        raise ApiError(422, errors.EMPTY_IMAGE, "no digit found: only specks, no strokes")
    groups = _merge_groups(groups)

    tallest = max(group.height for group in groups)
    kept = [group for group in groups if group.height >= 0.25 * tallest]  # no stray dots, commas
    result: list[list[Reading]] = []
    index = 0
    while index < len(kept):
        group = kept[index]
        if index + 1 < len(kept) and _may_be_one(group, kept[index + 1]):
            # Two halves of a 0 or an 8 opened at the top and the bottom stand side by side like
            # two digits: the model is asked which reading it is surer of.
            pair = replace(group, labels=list(group.labels), spans=list(group.spans))
            pair.absorb(kept[index + 1])
            apart = [_group_slice(labels, group), _group_slice(labels, kept[index + 1])]
            prior = -CLOSE_PRIOR_SLOPE * max(0, group.gap_to(kept[index + 1])) / max(1, pair.height)
            result.append([(0.0, apart), (prior, [_group_slice(labels, pair)])])
            index += 2
            continue
        result.append(_readings(*_group_slice(labels, group)))
        index += 1
    if sum(max(len(pieces) for _, pieces in readings) for readings in result) > MAX_DIGITS:
        raise ApiError(422, errors.UNREADABLE_IMAGE, f"more than {MAX_DIGITS} marks found; not a number")
    return result


def _group_slice(labels: np.ndarray, group: _Group) -> Slice2D:
    rows, cols = slice(group.top, group.bottom), slice(group.left, group.right)
    return rows, cols, np.isin(labels[rows, cols], group.labels)


def _may_be_one(a: _Group, b: _Group) -> bool:
    """Neighbours so close and narrow that together they could be one digit (see above)."""
    top, bottom = min(a.top, b.top), max(a.bottom, b.bottom)
    width = max(a.right, b.right) - min(a.left, b.left)
    return (
        a.gap_to(b) <= CLOSE_GAP * (bottom - top)
        and width <= CLOSE_ASPECT * (bottom - top)
        and max(a.width / max(1, a.height), b.width / max(1, b.height)) <= SPLIT_MIN_ASPECT
    )


def _merge_groups(groups: list[_Group]) -> list[_Group]:
    """Join pieces of one digit until no pair qualifies (see `_digit_groups`), left to right."""
    if len(groups) > 4 * MAX_DIGITS:  # a page of marks: grouped by overlap only, cheaply
        return _merge_overlapping(sorted(groups, key=lambda group: group.left))
    merged = True
    while merged and len(groups) > 1:
        merged = False
        groups.sort(key=lambda group: group.left)
        best: tuple[float, int, int] | None = None
        for i, j in itertools.combinations(range(len(groups)), 2):
            score = _merge_score(groups[i], groups[j])
            if score is not None and (best is None or score > best[0]):
                best = (score, i, j)
        if best is not None:
            _, i, j = best
            groups[i].absorb(groups.pop(j))
            merged = True
    return sorted(groups, key=lambda group: group.left)


def _merge_overlapping(groups: list[_Group]) -> list[_Group]:
    result: list[_Group] = []
    for group in groups:
        if result and -result[-1].gap_to(group) >= OVERLAP_MERGE * min(result[-1].width, group.width):
            result[-1].absorb(group)
        else:
            result.append(group)
    return result


def _merge_score(a: _Group, b: _Group) -> float | None:
    """How surely `a` and `b` are one digit (higher: surer), or None when they are two."""
    gap = a.gap_to(b)
    narrower = max(1, min(a.width, b.width))
    if -gap >= OVERLAP_MERGE * narrower:
        return 1.0 + -gap / narrower  # they share columns: above any other rule's score
    top, bottom = min(a.top, b.top), max(a.bottom, b.bottom)
    width = max(a.right, b.right) - min(a.left, b.left)
    shared_rows = min(a.bottom, b.bottom) - max(a.top, b.top)
    if shared_rows <= STACKED_ROWS * min(a.height, b.height) and gap <= FRAGMENT_GAP * (bottom - top):
        # One above the other (a slanted 1 broken in the middle, a 5's bar): digits of a number
        # stand side by side, never stacked.
        return 1.0 - max(gap, 0) / max(1, bottom - top)
    taller, lower = (a, b) if a.height >= b.height else (b, a)
    if lower.inked_height >= FRAGMENT_HEIGHT * taller.height:
        return None  # two digits of their own, however close
    if max(gap, -shared_rows) > FRAGMENT_GAP * taller.height:
        return None
    if width > FRAGMENT_ASPECT * (bottom - top):
        return None
    return 1.0 - max(gap, 0) / max(1, taller.height)


def _readings(rows: slice, cols: slice, group_mask: np.ndarray) -> list[Reading]:
    """A group as one digit, and, when it is wider than most digits, as touching digits too.

    MNIST alone has 5s, 2s and 0s twice as wide as tall, and two touching digits can be as narrow
    as their height (a 1 against a 4), so width alone cannot decide: the split readings get a
    prior that grows with the width (even at SPLIT_EVEN_ASPECT) and the model's confidence in
    each reading's digits does the rest. Two touching digits are cut at each of the few thinnest
    columns of the middle, one reading per cut, since the narrower digit need not be half.
    """
    height, width = group_mask.shape
    readings: list[Reading] = [(0.0, [(rows, cols, group_mask)])]
    if width <= SPLIT_MIN_ASPECT * height:
        return readings
    prior = float(np.clip(SPLIT_PRIOR_SLOPE * (width / height - SPLIT_EVEN_ASPECT), -2.0, 2.0))
    pieces = round(width / (0.8 * height))
    profile = group_mask.sum(axis=0).astype(np.float32)
    if pieces > 2:
        cut_sets = [_even_cuts(profile, pieces)]
    else:
        cut_sets = [[0, cut, width] for cut in _thinnest_columns(profile)]
    readings += [(prior, _cut(rows, cols, group_mask, cuts)) for cuts in cut_sets]
    return readings


def _thinnest_columns(profile: np.ndarray, most: int = SPLIT_CANDIDATES) -> list[int]:
    """Up to `most` columns in the middle 60% where the ink is thinnest, apart from each other."""
    width = profile.size
    lo, hi = max(1, int(0.2 * width)), min(width - 1, int(np.ceil(0.8 * width)))
    smooth = np.convolve(profile, np.ones(3, dtype=np.float32) / 3, mode="same")
    chosen: list[int] = []
    for column in lo + np.argsort(smooth[lo:hi], kind="stable"):
        if all(abs(int(column) - other) >= max(2, width // 10) for other in chosen):
            chosen.append(int(column))
        if len(chosen) == most:
            break
    return chosen or [width // 2]


def _even_cuts(profile: np.ndarray, pieces: int) -> list[int]:
    """Cuts at the thinnest column near each equal division (several touching digits)."""
    width = profile.size
    cuts = [0]
    for piece in range(1, pieces):
        centre = int(piece * width / pieces)
        window = max(1, width // (3 * pieces))
        lo, hi = max(cuts[-1] + 1, centre - window), min(width - 1, centre + window)
        cuts.append(lo + int(np.argmin(profile[lo:hi])) if hi > lo else centre)
    cuts.append(width)
    return cuts


def _cut(rows: slice, cols: slice, group_mask: np.ndarray, cuts: list[int]) -> list[Slice2D]:
    """The group cut at the given columns, each piece cropped to its ink."""
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


def _normalised(ink: np.ndarray, mask: np.ndarray, peak: float) -> tuple[np.ndarray, np.ndarray | None]:
    """The digit as `_normalise_digit` makes it, and thinned to MNIST's stroke when its stroke
    is THINNED_STROKE to THICK_STROKE times that (else None)."""
    pixels = _normalise_digit(ink, mask, peak)
    if not THINNED_STROKE < _stroke_share(mask) <= THICK_STROKE:
        return pixels, None
    thinned = _normalise_digit(ink, mask, peak, THINNED_STROKE)
    return pixels, None if np.array_equal(thinned, pixels) else thinned


def _stroke_share(mask: np.ndarray) -> float:
    """The digit's stroke width as a multiple of MNIST's at the scale it will be fitted to."""
    pad = max(2, int(0.1 * max(mask.shape)))
    stroke, target = _stroke_and_target(_pad(mask, pad), FIT_BOX / max(mask.shape))
    return stroke / target


def _stroke_and_target(padded_mask: np.ndarray, scale: float) -> tuple[float, float]:
    """Stroke width ~ 2 * area / perimeter, and MNIST's width at `scale`, in the mask's pixels."""
    area = float(padded_mask.sum())
    perimeter = area - float(_erode(padded_mask).sum())  # the erosion lies inside the mask
    return 2.0 * area / max(perimeter, 1.0), TARGET_STROKE / scale


def _normalise_digit(
    ink: np.ndarray, mask: np.ndarray, peak: float, thick_stroke: float = THICK_STROKE
) -> np.ndarray:
    """Stroke width, fit into 20x20 with aspect kept, centre of mass at the centre of 28x28.
    A stroke over `thick_stroke` times MNIST's (at the final scale) is thinned to MNIST's."""
    height, width = mask.shape
    scale = FIT_BOX / max(height, width)
    pad = max(2, int(0.1 * max(height, width)))
    ink = _pad(ink / max(peak, 1e-6), pad)
    mask = _pad(mask, pad)

    # Bring the stroke to MNIST's width at the final scale.
    stroke, target = _stroke_and_target(mask, scale)
    if stroke < THIN_STROKE * target:
        grow = max(1, round((target - stroke) / 2.0))
        ink = ndimage.grey_dilation(ink, size=(2 * grow + 1, 2 * grow + 1))
    elif stroke > thick_stroke * target:
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
