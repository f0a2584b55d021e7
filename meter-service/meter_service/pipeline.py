"""The synchronous steps from an image to a meter reading, shared by the service and `evaluate`.

    start    mode chosen (auto|photo|window, from the checked `options.MeterOptions`), the
             locator's first input made
    located  the locator's output for that input read (`locate.window_from_output`); returns the
             next input to run (a refining view round the estimate, `locate.refine_input`), or
             None when the window is found: the passes of `locate.locate_window`, one at a time
    cut      the counter window rectified to (N*20) x 32 and cut into N wheel cells, the
             reader's input (in window mode two candidates, see below)
    finish   the reader's probabilities composed into the reading (`reading.compose`), rejection
             reasons, corners, crop and the plausibility check

The model calls sit between the steps and belong to the caller: the service sends them through
its micro-batchers (`recognizer.MeterRecognizer.run`), the evaluate command batches whole test
sets. Nothing here imports TensorFlow.

Mode `auto` picks `window` when the image is at least WIDE_ASPECT times as wide as it is high:
a counter window's row of 4-8 wheels is some 2-9 times as wide as high (cells 0.5-0.8 w/h, and
the gaps between them), while a photo of a meter is rarely wider than 16:9 (1.8), so the aspect
alone tells a tight crop of the window from a photo. A loosely cropped window can be narrower;
send mode=window for those.

In window mode the image is meant to be the row of wheels, but people crop loosely: a margin of
frame round the row shifts and squeezes every cell, and the reader reads where the digits sit in
their cells. So the locator's refining pass looks at the crop too, starting from the whole image
as its estimate; the row it finds is read first, and when that reads unsure the whole image is
read as well and the reading with the higher confidence wins. A crop where the locator finds no
row is read whole.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import numpy as np
from PIL import Image

from meter_service import locate, plausibility
from meter_service.geometry import UNIT_SQUARE, homography, quad_iou, quad_size, rectify, transform_points
from meter_service.odometer import MAX_WHEELS, MIN_WHEELS
from meter_service.options import MeterOptions
from meter_service.reader import CROP_HEIGHT, CROP_WIDTH, decode_wheels, reader_input
from meter_service.reading import Reading, compose
from recognition_common.edge import errors
from recognition_common.edge.errors import ApiError

WIDE_ASPECT = 2.0
MAX_SUPERSAMPLE = 4  # rectify at up to this many times the cell size, then shrink (no aliasing)
# Cuts of a window read when the cut as located reads unsure (overall confidence below SURE):
# (shift, stretch) in widths of the row. The reader is sensitive to where the cell borders fall
# (measured: a cut 4% too wide loses 11% of exact readings) and the locator places the row's
# ends to about 1.4% of its width, so the cut is tried a little to each side, narrower and wider.
ALIGNMENTS = ((0.0, 0.0), (-0.01, 0.0), (0.01, 0.0), (0.0, -0.02), (0.0, 0.02))
# Was 0.9. On the 600 strips composed from the real validation crops (seeds 2026, 77), a cut as
# located that read 0.9-0.99 sure was sometimes a misplaced one (`4593` read `4592`, `8717` read
# `3717`, both at 0.96; another alignment reads them right at 0.99 and 1.0); reading the
# alternatives below 0.99 read one more strip right at each seed (exact 95.0% / 94.7% -> 95.3% /
# 95.0%, right among the accepted 98.6% / 98.9% -> 98.9% / 99.3%, refusals unchanged), the same
# as reading them always.
SURE = 0.99
WINDOW_REFINEMENTS = 2  # locator passes over a window crop
# A row the locator finds in a window crop must overlap the whole crop at least this much (IoU):
# anything smaller is some other part of the picture, not the row the user cropped to.
MIN_WINDOW_SHARE = 0.4


@dataclass(frozen=True)
class Thresholds:
    min_confidence: float  # a wheel below it rejects the reading
    min_window_score: float  # a located window below it rejects the reading
    min_reading_confidence: float = 0.0  # an overall confidence below it rejects the reading


# --- The steps ------------------------------------------------------------------------------


@dataclass
class Job:
    """One image on its way through the steps."""

    image: Image.Image  # RGB
    options: MeterOptions
    mode: str  # "photo" or "window", resolved from auto
    locator_shape: tuple[int, ...] = locate.INPUT_SHAPE
    view: np.ndarray | None = None  # (1, H, W, C): the locator input to run next; None when done
    search: locate.WindowSearch | None = None  # photo mode: the locator's passes
    frame: locate.LocatorFrame | None = None  # window mode: how `view` maps back to the image
    window: locate.Window | None = None  # the best estimate so far
    refinements: int = 0  # window mode: refining passes done

    @property
    def view_frame(self) -> locate.LocatorFrame | None:
        """How the pending `view` maps back to the image."""
        return self.search.frame if self.search is not None else self.frame

    @property
    def whole(self) -> np.ndarray:
        """The whole image as a quad (window mode's first estimate)."""
        width, height = self.image.size
        return np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)


@dataclass
class Cut:
    """A window rectified and cut into its wheels, ready for the reader."""

    corners: np.ndarray | None  # (4, 2) TL, TR, BR, BL in the image's pixels; None in window mode
    score: float | None  # the locator's score; None in window mode
    crop: Image.Image  # the rectified window, (N*20) x 32
    cells: np.ndarray  # reader input (N, 32, 20, 3) float32
    periodicity: float = 0.0  # how strongly the crop repeats N times across (`periodicity`)
    whole: bool = False  # window mode: the whole crop, as it came (not a row found in it)
    # wheels=auto: the cut for each count, MIN_WHEELS first; `cells` are their cells as located
    by_count: list[Cut] = field(default_factory=list)
    # Other readings of the same window: slightly shifted and stretched cuts (see ALIGNMENTS)
    # and, in window mode, the row the locator found inside the crop. The surest one wins.
    alternatives: list[Cut] = field(default_factory=list)
    # wheels=auto in window mode, set on the count kept: the whole crop at its own best count,
    # when that count is more than the kept one (see `count_wheels` and `finish`).
    rival: Rival | None = None
    # wheels=auto, set on the count kept: the most wheels that read within COUNT_MARGIN of it,
    # when that is more than the kept count (see `count_wheels` and `finish`).
    close_count: int | None = None

    @property
    def candidates(self) -> list[Cut]:
        return [self, *self.alternatives]

    @property
    def alternatives_input(self) -> np.ndarray:
        """The alternatives' cells in one batch, in order (read only when `cells` read unsure)."""
        return np.concatenate([candidate.cells for candidate in self.alternatives])


@dataclass
class Rival:
    """The whole crop read at its own best count, which is more wheels than the count kept."""

    cut: Cut  # the whole crop cut for that count
    probabilities: np.ndarray  # the reader's rows for `cut.cells`


BLANK_CONTRAST = 16  # grey levels between the darkest and lightest pixel below which nothing is shown


def choose_mode(image: Image.Image, mode: str) -> str:
    if mode != "auto":
        return mode
    return "window" if image.width >= WIDE_ASPECT * image.height else "photo"


def to_rgb(image: Image.Image) -> Image.Image:
    """Any decoded image as RGB, transparency flattened onto white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        canvas.alpha_composite(rgba)
        return canvas.convert("RGB")
    return image.convert("RGB")


def refuse_blank(image: Image.Image) -> None:
    """A picture without contrast holds no meter: say so (422 empty_image) instead of reading
    wheels into a blank crop, where the reader would only guess with low confidence."""
    low, high = cast(tuple[int, int], image.convert("L").getextrema())
    if high - low < BLANK_CONTRAST:
        raise ApiError(422, errors.EMPTY_IMAGE, "the image is blank: no meter or counter window in it")


def start(image: Image.Image, options: MeterOptions, locator_shape: tuple[int, ...] | None = None) -> Job:
    """Step 1: the image in RGB, the mode, and the locator's first input: the whole photo, or in
    window mode a refining view round the whole crop."""
    rgb = to_rgb(image)
    refuse_blank(rgb)
    job = Job(rgb, options, choose_mode(rgb, options.mode), tuple(locator_shape or locate.INPUT_SHAPE))
    if job.mode == "photo":
        job.search = locate.WindowSearch(rgb, job.locator_shape)
        array = job.search.view
    else:
        job.window = locate.Window(job.whole, 1.0)
        array, job.frame = locate.refine_input(rgb, job.window, job.locator_shape)
    assert array is not None
    job.view = array[np.newaxis]
    return job


def located(job: Job, output: np.ndarray) -> np.ndarray | None:
    """Step 2, once per locator pass: read its output for `job.view`; the next view, or None.

    Photo mode runs `locate.WindowSearch`'s passes (the whole photo, then views turned and
    zoomed onto the estimate). A photo in which no window is found is refused (422): there is
    nothing to read, and reading some other part of the image would be worse than nothing.
    Window mode runs up to WINDOW_REFINEMENTS refining passes looking for the row in the crop.
    """
    job.view = None
    if job.search is not None:
        following = job.search.update(output)
        if following is not None:
            job.view = following[np.newaxis]
        elif job.search.window is None:
            raise ApiError(
                422,
                errors.UNREADABLE_IMAGE,
                "no counter window found in the photo; send a closer, sharper photo of the meter, "
                "or a crop of the row of wheels with mode=window",
            )
        else:
            job.window = job.search.window
        return job.view
    assert job.frame is not None, "located() without a pending locator view"
    found = locate.window_from_output(output, job.frame)
    job.frame = None
    if found is None or quad_iou(found.corners, job.whole) < MIN_WINDOW_SHARE:
        return None
    job.window = found
    job.refinements += 1
    if job.refinements < WINDOW_REFINEMENTS:
        array, job.frame = locate.refine_input(job.image, found, job.locator_shape)
        job.view = array[np.newaxis]
    return job.view


def cut(job: Job) -> Cut:
    """Step 3: the window rectified and cut into cells, as located and in the other ALIGNMENTS.

    Photo mode: the located window. Window mode: the row the locator found inside the crop, when
    it found one, then the whole image (a crop cut tight to the row). The row comes first
    because the reader reads where digits sit in their cells: a crop with some frame above and
    below squeezes and shifts them, so the whole image is the fallback, read when the row reads
    unsure.
    """
    assert job.window is not None and job.view is None, "cut() before the locator passes are done"
    if job.options.wheels is not None:
        return _cut_for(job, job.options.wheels)
    # wheels=auto: one cut per count; the reader reads each count's probes (`probes`), then
    # `count_wheels` keeps one count.
    by_count = [_cut_for(job, wheels) for wheels in range(MIN_WHEELS, MAX_WHEELS + 1)]
    first = by_count[0]
    cells = np.concatenate([probe.cells for candidate in by_count for probe in probes(candidate)])
    return Cut(first.corners, first.score, first.crop, cells, by_count=by_count)


def probes(window: Cut) -> list[Cut]:
    """The cuts of one count that `count_wheels` reads: the cut as located and, in window mode,
    the whole crop too (the row found in it may be wrong, the crop itself is the row)."""
    whole = [candidate for candidate in window.alternatives if candidate.whole]
    return [window, *whole[:1]] if not window.whole else [window]


def _cut_for(job: Job, wheels: int) -> Cut:
    """The cut for `wheels` wheels, its other alignments (and window-mode candidates) as alternatives."""
    assert job.window is not None
    corners = np.asarray(job.window.corners, dtype=np.float32)
    if job.mode == "photo":
        cuts = aligned_cuts(job.image, corners, wheels, keep_corners=True, score=float(job.window.score))
    else:
        cuts = aligned_cuts(job.image, job.whole, wheels, keep_corners=False)
        cuts[0].whole = True
        if job.refinements:
            cuts = aligned_cuts(job.image, corners, wheels, keep_corners=False) + cuts
    first, *others = cuts
    first.alternatives = others
    return first


def aligned_cuts(
    image: Image.Image, corners: np.ndarray, wheels: int, keep_corners: bool, *, score: float | None = None
) -> list[Cut]:
    """The quad `corners` cut as is and in each of the ALIGNMENTS (as is first).

    The row is rectified once, with room each side, and each alignment is a box in it resized to
    (wheels*20) x 32: one perspective warp for all of them. A perspective warp samples the source
    at one point per output pixel, so shrinking a large window that way would alias (thin strokes
    vanish or break up): the warp is made at about the window's own size, up to MAX_SUPERSAMPLE
    times the target, and the filtering resize does the shrinking.
    """
    width, height = wheels * CROP_WIDTH, CROP_HEIGHT
    _, quad_height = quad_size(corners)
    factor = int(min(max(round(quad_height / height), 1), MAX_SUPERSAMPLE))
    room = max(abs(shift) + max(stretch, 0.0) / 2 for shift, stretch in ALIGNMENTS)
    to_image = homography(UNIT_SQUARE, corners)  # row coordinates (0..1, 0..1) -> image pixels
    wide = transform_points(to_image, UNIT_SQUARE * [1 + 2 * room, 1] - [room, 0])
    big_width = round(width * factor * (1 + 2 * room))
    big = rectify(image, wide, big_width, height * factor)
    cuts = []
    repeats = periodicity(big, wheels)
    for shift, stretch in ALIGNMENTS:
        left, right = shift - stretch / 2, 1 + shift + stretch / 2  # in row widths
        box = (
            (left + room) / (1 + 2 * room) * big_width,
            0,
            (right + room) / (1 + 2 * room) * big_width,
            big.height,
        )
        crop = big.resize((width, height), Image.Resampling.BILINEAR, box=box, reducing_gap=None)
        quad = transform_points(to_image, UNIT_SQUARE * [right - left, 1] + [left, 0]).astype(np.float32)
        cuts.append(Cut(quad if keep_corners else None, score, crop, cells_of(crop, wheels), repeats))
    return cuts


PROFILE_WIDTH = 256  # columns the periodicity profile is resampled to


def periodicity(crop: Image.Image, wheels: int) -> float:
    """How much of a window crop's column-contrast profile repeats `wheels` times across it.

    Each wheel is a digit in a cell with frame between the cells, so a row of N wheels has a
    column profile (each column's spread of brightness) with N periods across the window. The
    share of the profile's spectral power at N cycles (of the power at 1 to 19 cycles) says how
    well N fits; `finish` adds it to the reader's own confidence when it counts the wheels.
    """
    grey = np.asarray(crop.convert("L").resize((PROFILE_WIDTH, CROP_HEIGHT), Image.Resampling.BILINEAR))
    profile = grey.astype(np.float64).std(axis=0)
    profile -= profile.mean()
    power = np.abs(np.fft.rfft(profile * np.hanning(PROFILE_WIDTH))) ** 2
    total = float(power[1:20].sum())
    return float(power[wheels] / total) if total > 0 else 0.0


# Red decimal wheels: a cell's redness is the RED_PERCENTILE-th percentile of R - max(G, B) over
# its pixels (high for white on red and for red ink on white, which covers only part of a cell;
# about 0 for black, white and grey). The last k cells are red when the least red of them stands
# at least RED_GAP grey levels above the reddest cell before them; at most MAX_DECIMALS, with at
# least MIN_WHEELS - 1 black ones before them (real counters: 4-5 black m³ wheels, 1-4 red).
# Chosen on 300 generated windows: 88% counted right, 1% false red (the median: 81%).
RED_PERCENTILE = 75
RED_GAP = 10.0
MAX_DECIMALS = 4


def red_wheels(cells: np.ndarray) -> int:
    """How many of the last wheels are red (decimal) wheels, from the reader's cells (N, 32, 20, 3)
    in [0, 1]: the split with the largest gap between the redness of the last k cells and of
    the cells before them, when that gap is at least RED_GAP."""
    pixels = np.asarray(cells, dtype=np.float64) * 255
    excess = (pixels[..., 0] - np.maximum(pixels[..., 1], pixels[..., 2])).reshape(len(pixels), -1)
    redness = np.percentile(excess, RED_PERCENTILE, axis=1)
    best, decimals = RED_GAP, 0
    for count in range(1, min(MAX_DECIMALS, len(cells) - (MIN_WHEELS - 1)) + 1):
        gap = float(redness[-count:].min() - redness[:-count].max())
        if gap >= best:
            best, decimals = gap, count
    return decimals


def cells_of(crop: Image.Image, wheels: int) -> np.ndarray:
    """A (wheels*20) x 32 crop cut into `wheels` equal cells: the reader's input (N, 32, 20, 3)."""
    pixels = np.asarray(crop.convert("RGB"), dtype=np.uint8)
    cells = pixels.reshape(CROP_HEIGHT, wheels, CROP_WIDTH, 3).transpose(1, 0, 2, 3)
    return reader_input(np.ascontiguousarray(cells))


def unsure(window: Cut, probabilities: np.ndarray) -> bool:
    """Whether the cut as located (`window.cells`, read as `probabilities`) is worth reading
    again in its alternatives: it has some, and its overall confidence (as `compose` defines
    it, the product of the wheels' confidences) is below SURE."""
    readings = decode_wheels(probabilities[: len(window.cells)])
    return bool(window.alternatives) and math.prod(reading.confidence for reading in readings) < SURE


def _reading_of(cut: Cut, rows: np.ndarray, min_confidence: float) -> Reading:
    """The reading of one cut from the reader's rows for its cells, its red wheels as decimals."""
    return compose(decode_wheels(rows), min_confidence, red_wheels(cut.cells))


def finish(
    job: Job,
    window: Cut,
    probabilities: np.ndarray,
    thresholds: Thresholds,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Step 4: the `result` object from the reader's probabilities for `window.cells`, followed
    by those for `window.alternatives_input` when they were read (see `unsure`).

    Of the candidates read, the one with the highest overall confidence is the answer: a cut that
    splits wheels reads unsure, so the reader's own certainty picks the best-placed one. Ties
    keep the cut as located.

    With a `window.rival` (the whole crop reads more wheels than the row found in it) that reads
    with overall confidence WHOLE_COUNT_SURE or more, the count is in doubt: the rival is the
    answer when it reads surer than the candidates, and otherwise the reading is refused. So is
    a reading with fewer wheels than `window.close_count`, a count that read nearly as well.
    """
    close_count = window.close_count
    readings = []
    offset = 0
    for candidate in window.candidates:
        if offset >= len(probabilities):
            break
        rows = probabilities[offset : offset + len(candidate.cells)]
        offset += len(candidate.cells)
        readings.append(_reading_of(candidate, rows, thresholds.min_confidence))
    best = max(range(len(readings)), key=lambda index: (readings[index].confidence, -index))
    rival = window.rival
    reading, window = readings[best], window.candidates[best]
    reasons = []
    if rival is not None:  # the whole crop reads more wheels than the row found in it
        rival_reading = _reading_of(rival.cut, rival.probabilities, thresholds.min_confidence)
        if rival_reading.confidence >= WHOLE_COUNT_SURE:
            if rival_reading.confidence > reading.confidence:
                reading, window = rival_reading, rival.cut
            else:
                reasons.append(
                    f"number of wheels unsure: the row found in the crop reads {len(reading.wheels)} "
                    f"wheels, the whole crop {len(rival_reading.wheels)} with confidence "
                    f"{rival_reading.confidence:.2f}"
                )
    if close_count is not None and len(reading.wheels) < close_count:
        reasons.append(
            f"number of wheels unsure: {len(reading.wheels)} wheels read, {close_count} read nearly as well"
        )
    if reading.low_confidence:
        which = ", ".join(map(str, reading.low_confidence))
        plural = "s" if len(reading.low_confidence) > 1 else ""
        reasons.append(f"wheel{plural} {which} below the confidence threshold {thresholds.min_confidence:g}")
    if reading.confidence < thresholds.min_reading_confidence:
        reasons.append(
            f"overall confidence {reading.confidence:.2f} below {thresholds.min_reading_confidence:g}"
        )
    if window.score is not None and window.score < thresholds.min_window_score:
        reasons.append(
            f"counter window found with score {window.score:.2f}, below {thresholds.min_window_score:g}"
        )
    composed = reading.to_json()
    digits_json = composed.pop("digits")
    result: dict[str, Any] = {**composed, "rejected": bool(reasons)}
    if reasons:
        result["reject_reason"] = "; ".join(reasons)
    result.update(
        {
            "digits": digits_json,
            "mode": job.mode,
            "window_score": None if window.score is None else round(window.score, 4),
            "corners": None if window.corners is None else _tenths(window.corners),
            "crop_png_base64": png_base64(window.crop),
        }
    )
    options = job.options
    if options.wants_plausibility:
        verdict = plausibility.check(
            reading.value,
            len(reading.wheels) - reading.decimals,
            options.previous_value,
            options.previous_time,
            options.time or now,
            options.max_rate,
        )
        result["plausibility"] = verdict.to_json()
    return result


# Weight of the crop's periodicity against the reader's mean log confidence when counting wheels.
# Chosen on 100 generated photos and 100 window crops of 4-8 wheels (seeds 5151, 5152): counted
# right on the reader's confidence alone 79% / 94%, with weight 0.1 84% / 97%, 1.0 94.5% / 99%.
PERIODICITY_WEIGHT = 1.0
# Window mode, wheels=auto: the overall confidence from which the whole crop's reading of more
# wheels than the count kept puts the count in doubt (`finish`). Chosen on strips composed from the
# real validation crops (1,000, seeds 2026 and 77) and 1,100 generated window crops (seeds 5152,
# 5153). At 0.9: 26 composed strips in doubt, all 26 read wrong as kept and right by the whole
# crop, which was surer on 22 (taken; the other 4 refused); 7 generated crops in doubt, none
# surer whole, all refused: 5 were right as kept, and the whole crop read 6 of the 7 wrong. At 0.5
# the doubt also falls on 3 right composed strips and 35 right generated crops (at 0.9: 0 and 5).
# Lowered to 0.75 with reader 1.2.0: of the 600 composed validation strips (seeds 2026, 77), two
# were read wrong and accepted with an end wheel left out of the row found (`33333332` read
# `3333333`, `21111421` read `2111142`), the whole crop reading all 8 at 0.86 and 0.80; the right
# readings left with a rival were at most 0.21 sure of it, and on 600 generated window crops of 4-8
# wheels (seeds 5152, 5153) at most 0.66.
WHOLE_COUNT_SURE = 0.75
# wheels=auto: a count above the one kept whose score (`count_wheels`) is within this of the best
# puts the count in doubt. Chosen on 600 strips composed from the real validation crops (seeds
# 2026 and 77; reader 1.2.0): of the 558 readings accepted, 13 were wrong, 9 of them a wheel count
# short (7 wheels read as 4, 8 as 5...). Below 0.05, a higher count was close on 4 of those 13
# and on no right reading (the next right ones at 0.065 to 0.1); on 200 generated photos and 200
# window crops of 4-8 wheels (seeds 5151, 5153) on one wrong window crop and nothing else.
COUNT_MARGIN = 0.05


def count_wheels(window: Cut, probabilities: np.ndarray) -> tuple[Cut, np.ndarray]:
    """Step 3b, wheels=auto: of the cuts for each count (`window.by_count`, read as located into
    `probabilities`), the one whose count explains the window best, and its probabilities. Any
    other cut is returned as it is.

    The score is the reader's mean log confidence per wheel (a wrong count cuts digits in two,
    or two into one cell, and reads unsure) plus PERIODICITY_WEIGHT times the crop's periodicity
    at that count. A higher count that scores within COUNT_MARGIN of the best is kept on the
    returned cut (`Cut.close_count`): squeezed two to a cell, real wheels can read about as
    surely as one to a cell, so `finish` refuses a reading with fewer wheels than that.

    In window mode the row found inside the crop is cut tighter than the crop, so its periodicity
    is higher, and it wins the count even where the locator left out an end wheel that looks
    unlike the others. The whole crop's own best count is then higher than the one kept; it is
    kept on the returned cut (`Cut.rival`) for `finish` to weigh.
    """
    if not window.by_count:
        return window, probabilities
    read = [probe for cut in window.by_count for probe in probes(cut)]
    rows = np.split(probabilities, np.cumsum([len(probe.cells) for probe in read])[:-1])
    scores: dict[int, float] = {}
    first_rows: dict[int, np.ndarray] = {}
    whole_best: tuple[float, Rival] | None = None  # the whole crop's best score and its cut
    for probe, probe_rows in zip(read, rows, strict=True):
        logs = [math.log(max(reading.confidence, 1e-6)) for reading in decode_wheels(probe_rows)]
        score = sum(logs) / len(logs) + PERIODICITY_WEIGHT * probe.periodicity
        count = len(probe.cells)
        scores[count] = max(scores.get(count, -math.inf), score)
        first_rows.setdefault(count, probe_rows)  # the count's cut as located comes first
        if probe.whole and (whole_best is None or score > whole_best[0]):
            whole_best = (score, Rival(probe, probe_rows))
    best = max(scores, key=lambda count: scores[count])
    kept = window.by_count[best - MIN_WHEELS]
    close = [count for count in scores if count > best and scores[best] - scores[count] < COUNT_MARGIN]
    kept.close_count = max(close, default=None)
    kept.rival = None
    if whole_best is not None and len(whole_best[1].cut.cells) > best:
        kept.rival = whole_best[1]
    return kept, first_rows[best]


def _tenths(corners: np.ndarray) -> list[list[float]]:
    """Corners as JSON numbers to a tenth of a pixel (in float64: float32's 338.7 would print
    as 338.70001220703125)."""
    return np.round(corners.astype(np.float64), 1).tolist()


def png_base64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
