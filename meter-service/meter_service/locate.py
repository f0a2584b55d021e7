"""The window locator's pre- and post-processing, shared by training and serving.

The locator is a small fully convolutional network: a square RGB view in, a soft mask of the
wheel row out (at half the input's resolution). It runs twice on a photo:

1. `locator_input`: the whole photo letterboxed into the square. The mask gives the row's
   position, size and angle, roughly (a row can be a few pixels high at this scale).
2. `refine_input`: a square view centred on that estimate, turned by its angle and scaled so the
   row spans about three quarters of the width. The same network's mask of this view is many
   pixels high, so the corners come out to a fraction of a pixel of the original photo. This
   pass runs twice (`REFINEMENTS`), and again while the row runs off the view's sides
   (`touches_edge`): a rough first estimate is fixed in a step or two.

`window_from_output` turns a mask into corners by image moments: the mask's centroid, and the
eigenvectors of its covariance for the row's direction; a rectangle of side s has second moment
s^2 / 12 along that side, so the sides follow from the eigenvalues. The region measured is the
blob round the mask's peak, grown through fainter pixels next to it (`GROW_THRESHOLD`), so that a
stretch of the row dimmed by glare does not cut it short. Soft mask edges make this
sub-pixel, and it needs no contour tracing. Each view records in a `LocatorFrame` how its pixels
map back to the photo's, so corners are always returned in the ORIGINAL photo's pixels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from meter_service.geometry import Corners, order_corners, quad_size, transform_points

INPUT_SHAPE = (160, 160, 3)  # height, width, channels of the locator's input
OUTPUT_STRIDE = 2  # input pixels per mask pixel
THRESHOLD = 0.5  # mask probability that counts as "window"
FIRST_THRESHOLD = 0.3  # in the whole-photo pass: a faint blob is worth a closer look
# A blob found at the threshold grows into the pixels next to it down to this probability
# (hysteresis, as Canny's edge linking): glare, a dirty cover or an odd wheel dims a stretch of
# the row's mask, and the blob at 0.5 then stops there, cutting off the wheels beyond. Chosen on
# the real validation crops shown in generated faces (300 each, seeds 2026 / 77) and generated
# photos of 4-8 wheels (300 each, seeds 43 / 44), against the plain threshold: exact 78.0% /
# 75.7% -> 78.7% / 76.0% and 88.7% / 86.3% -> 89.3% / 87.0%, right among the accepted 95.8% /
# 96.6% -> 96.3% / 98.5% and 98.1% / 97.3% -> 98.5% / 97.7%; strips read in window mode unchanged.
GROW_THRESHOLD = 0.25
MIN_PIXELS = 4  # fewer mask pixels than this is no window
REFINE_SPAN = 0.74  # in the refining view, the row's width / the view's width
PAD_VALUE = 0  # letterbox bars (black)


@dataclass(frozen=True)
class LocatorFrame:
    """Where a locator input came from: `to_image` maps input pixels to photo pixels (3x3)."""

    to_image: np.ndarray
    input_size: tuple[int, int]  # (width, height) of the input


@dataclass(frozen=True)
class Window:
    """A located counter window: corners TL, TR, BR, BL in the photo's pixels, and how sure."""

    corners: Corners
    score: float  # mean mask probability over the found region's pixels at the threshold or more, 0..1


def _to_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def locator_input(
    image: Image.Image, input_shape: tuple[int, ...] = INPUT_SHAPE
) -> tuple[np.ndarray, LocatorFrame]:
    """The whole photo letterboxed (aspect kept, centred, black bars) into the locator's input."""
    height, width = int(input_shape[0]), int(input_shape[1])
    scale = min(width / image.width, height / image.height)
    new_w = max(1, min(width, round(image.width * scale)))
    new_h = max(1, min(height, round(image.height * scale)))
    resized = _rgb(image).resize((new_w, new_h), Image.Resampling.BILINEAR)
    canvas = Image.new("RGB", (width, height), (PAD_VALUE,) * 3)
    left, top = (width - new_w) // 2, (height - new_h) // 2
    canvas.paste(resized, (left, top))
    sx, sy = new_w / image.width, new_h / image.height  # exact, after rounding the size
    to_image = np.array([[1 / sx, 0, -left / sx], [0, 1 / sy, -top / sy], [0, 0, 1]], dtype=np.float64)
    return _to_array(canvas), LocatorFrame(to_image, (width, height))


def view_frame(
    centre: tuple[float, float], angle: float, span: float, input_shape: tuple[int, ...] = INPUT_SHAPE
) -> LocatorFrame:
    """The frame of a square view of the photo: centred on `centre`, turned by `angle` (radians,
    clockwise on screen), `span` photo pixels across the view's width."""
    height, width = int(input_shape[0]), int(input_shape[1])
    scale = span / width  # photo pixels per input pixel
    cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
    cx, cy = centre
    # input (u, v) -> photo: centre + R(angle) * scale * ((u, v) - view centre)
    to_image = np.array(
        [
            [cos, -sin, cx - cos * width / 2 + sin * height / 2],
            [sin, cos, cy - sin * width / 2 - cos * height / 2],
            [0, 0, 1],
        ]
    )
    return LocatorFrame(to_image, (width, height))


def view_input(image: Image.Image, frame: LocatorFrame) -> np.ndarray:
    """The locator input that `frame` describes, cut from `image` (black outside the photo).

    A large photo is first shrunk by a whole factor with a box filter, so that the affine
    sampling never skips more than one pixel in two (no aliasing of thin strokes).
    """
    scale = math.hypot(frame.to_image[0, 0], frame.to_image[1, 0])  # photo pixels per input pixel
    factor = max(1, int(scale / 1.5))
    matrix = frame.to_image
    source = _rgb(image)
    if factor > 1:
        source = source.reduce(factor)
        matrix = np.diag([1 / factor, 1 / factor, 1.0]) @ matrix
    coefficients = tuple(matrix[:2].ravel())
    view = source.transform(
        frame.input_size,
        Image.Transform.AFFINE,
        coefficients,
        resample=Image.Resampling.BILINEAR,
        fillcolor=(PAD_VALUE,) * 3,
    )
    return _to_array(view)


def window_angle(corners: np.ndarray) -> float:
    """The row's angle (radians, clockwise on screen): the mean direction of its top and bottom."""
    c = np.asarray(corners, dtype=np.float64)
    direction = (c[1] - c[0]) + (c[2] - c[3])
    return math.atan2(direction[1], direction[0])


def refine_frame(
    window: Window | np.ndarray, input_shape: tuple[int, ...] = INPUT_SHAPE, widen: float = 1.0
) -> LocatorFrame:
    """The frame of the refining view around an estimate (a Window or its corners); `widen` > 1
    shows more round it (when the estimate is known to be too short)."""
    corners = window.corners if isinstance(window, Window) else np.asarray(window)
    row_width, _ = quad_size(corners)
    centre = np.asarray(corners, dtype=np.float64).mean(axis=0)
    span = row_width * widen / REFINE_SPAN
    return view_frame((centre[0], centre[1]), window_angle(corners), span, input_shape)


def refine_input(
    image: Image.Image,
    window: Window | np.ndarray,
    input_shape: tuple[int, ...] = INPUT_SHAPE,
    widen: float = 1.0,
) -> tuple[np.ndarray, LocatorFrame]:
    """A refining pass's input: a turned, zoomed square view centred on an estimate."""
    frame = refine_frame(window, input_shape, widen)
    return view_input(image, frame), frame


def _rgb(image: Image.Image) -> Image.Image:
    """The image in RGB; the same object when it already is (`convert` would copy the whole photo,
    once per locator pass). Callers only derive new images from it."""
    return image if image.mode == "RGB" else image.convert("RGB")


def _component(mask: np.ndarray, seed: tuple[int, int]) -> np.ndarray:
    """The 8-connected region of boolean `mask` that contains `seed` (grown by dilation)."""
    region = np.zeros_like(mask)
    region[seed] = True
    while True:
        grown = _dilate(region) & mask
        if (grown == region).all():
            return region
        region = grown


def _dilate(mask: np.ndarray) -> np.ndarray:
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    grown[:, 1:] |= grown[:, :-1]
    grown[:, :-1] |= grown[:, 1:]
    return grown


def mask_rectangle(probabilities: np.ndarray, threshold: float = THRESHOLD) -> tuple[Corners, float] | None:
    """The rectangle (corners in mask pixels, continuous coordinates) that best explains the
    strongest blob of a probability mask, and the mean probability of the blob's pixels at
    `threshold` or more; None if no blob. The blob is the region round the mask's peak down to
    GROW_THRESHOLD (or `threshold`, if lower)."""
    mask = np.asarray(probabilities, dtype=np.float64)
    mask = mask.reshape(mask.shape[0], mask.shape[1])
    solid = mask >= threshold
    if solid.sum() < MIN_PIXELS:
        return None
    peak = np.unravel_index(int(np.argmax(mask)), mask.shape)
    blob = _component(mask >= min(GROW_THRESHOLD, threshold), (int(peak[0]), int(peak[1])))
    core = blob & solid
    if core.sum() < MIN_PIXELS:
        return None
    score = float(mask[core].mean())
    weights = np.where(_dilate(_dilate(blob)), mask, 0.0)  # keep the soft edge: it is the sub-pixel part
    total = weights.sum()
    rows, cols = np.indices(mask.shape, dtype=np.float64)
    xs, ys = cols + 0.5, rows + 0.5  # pixel centres
    mx, my = (weights * xs).sum() / total, (weights * ys).sum() / total
    dx, dy = xs - mx, ys - my
    covariance = (
        np.array(
            [
                [(weights * dx * dx).sum(), (weights * dx * dy).sum()],
                [(weights * dx * dy).sum(), (weights * dy * dy).sum()],
            ]
        )
        / total
        + np.eye(2) / 12
    )  # each pixel is a unit square, not a point
    values, vectors = np.linalg.eigh(covariance)  # ascending
    along, across = vectors[:, 1], vectors[:, 0]
    if along[0] < 0:
        along = -along
    across = np.array([-along[1], along[0]])  # 90 degrees clockwise on screen: pointing down
    half_w = math.sqrt(12 * max(values[1], 0.0)) / 2
    half_h = math.sqrt(12 * max(values[0], 0.0)) / 2
    centre = np.array([mx, my])
    corners = np.array(
        [
            centre - along * half_w - across * half_h,
            centre + along * half_w - across * half_h,
            centre + along * half_w + across * half_h,
            centre - along * half_w + across * half_h,
        ]
    )
    return corners.astype(np.float32), score


def window_from_output(
    output: np.ndarray, frame: LocatorFrame, threshold: float = THRESHOLD
) -> Window | None:
    """The window in the ORIGINAL photo's pixels from the locator's output for one input.

    `output` is the mask for one input, (h, w) or (h, w, 1), at any fraction of the input's
    resolution; None when nothing in it reaches `threshold`.
    """
    mask = np.asarray(output, dtype=np.float32)
    mask = mask.reshape(mask.shape[0], mask.shape[1])
    found = mask_rectangle(mask, threshold)
    if found is None:
        return None
    corners, score = found
    input_w, input_h = frame.input_size
    stretch = np.array([input_w / mask.shape[1], input_h / mask.shape[0]])
    points = corners.astype(np.float64) * stretch
    mapped = np.c_[points, np.ones(4)] @ frame.to_image.T
    photo = mapped[:, :2] / mapped[:, 2:3]
    return Window(order_corners(photo), score)


def touches_edge(window: Window, frame: LocatorFrame, margin: float = 2.0) -> bool:
    """Whether `window` reaches the left or right edge of the view `frame` (within `margin`
    input pixels): the row went on past the view, so its width is only a lower bound."""
    xs = transform_points(np.linalg.inv(frame.to_image), window.corners)[:, 0]
    return bool(xs.min() <= margin or xs.max() >= frame.input_size[0] - margin)


Predict = Callable[[np.ndarray], np.ndarray]
REFINEMENTS = 2  # refining passes after the first
MAX_EXTRA = 2  # more passes while the row runs off the refining view (a first pass saw too little)
WIDEN = 2.0  # how much more the pass after a run-off shows


class WindowSearch:
    """The locator's passes one at a time, for callers that run the model themselves (a service
    batching requests): `view` is the next input to run; `update(output)` reads the model's mask
    for it and returns the following view, or None when the search is over; `window` then holds
    the result (None: no window).

    Passes: the whole photo, then `refinements` views turned and zoomed onto the estimate, and up
    to `MAX_EXTRA` more while the row runs off a view (the next one shows `WIDEN` times more).
    The first pass accepts a faint blob (`FIRST_THRESHOLD`): a tiny row is faint in a whole
    photo, and the refining passes judge it close up, so an estimate the first refinement cannot
    confirm is no window. A later refinement that loses it ends the search on the estimate
    before; the score is the last pass's.
    """

    def __init__(
        self, image: Image.Image, input_shape: tuple[int, ...] = INPUT_SHAPE, refinements: int = REFINEMENTS
    ) -> None:
        self.image = image
        self.input_shape = tuple(input_shape)
        self.refinements = refinements
        self.window: Window | None = None
        self.passes = 0  # refining passes done
        self.extra = 0  # passes added because the row ran off a view
        self._estimate: Window | None = None
        array, self.frame = locator_input(image, self.input_shape)
        self.view: np.ndarray | None = array

    @property
    def done(self) -> bool:
        return self.view is None

    def update(self, output: np.ndarray) -> np.ndarray | None:
        """Read the locator's output for `view` (one sample's mask); the next view or None."""
        if self.view is None:
            raise RuntimeError("the search is over")
        first = self._estimate is None
        found = window_from_output(output, self.frame, FIRST_THRESHOLD if first else THRESHOLD)
        self.view = None
        if found is None:
            return None
        self._estimate = found
        widen = 1.0
        if first:
            if self.refinements == 0:
                self.window = found
        else:
            self.window, self.passes = found, self.passes + 1
            if touches_edge(found, self.frame):
                widen = WIDEN
                if self.passes == self.refinements + self.extra and self.extra < MAX_EXTRA:
                    self.extra += 1
        if self.passes < self.refinements + self.extra:
            self.view, self.frame = refine_input(self.image, found, self.input_shape, widen)
        return self.view


def locate_window(
    predict: Predict,
    image: Image.Image,
    input_shape: tuple[int, ...] = INPUT_SHAPE,
    refinements: int = REFINEMENTS,
) -> Window | None:
    """The whole search (`WindowSearch`) with `predict`, which maps a (batch, H, W, 3) float32
    array to masks (batch, h, w[, 1])."""
    search = WindowSearch(image, input_shape, refinements)
    view = search.view
    while view is not None:
        view = search.update(predict(view[np.newaxis])[0])
    return search.window
