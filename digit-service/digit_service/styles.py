"""MNIST digits re-rendered in the styles people and scanners produce, and marks that are no digit.

MNIST is one style: greyscale, anti-aliased, 2-3 px strokes, aspect kept, centred. Users upload
binarised scans, postal digits kept at 16x16 and scaled up (blocky), 8x8 thumbnails, digits
stretched to fill their box, marker-thick or hairline strokes, slanted handwriting, all drawn at
any size anywhere on a canvas. Rendering those styles from MNIST's own images gives labelled
examples of each: the training command learns from them (from MNIST *training* images) and the
evaluate command measures the whole pipeline on them (from MNIST *test* images), so each style
has a measured figure.

`junk` draws what is not a digit (a dot, a scribble, a filled blob, a letter): the training
command teaches the model to spread its confidence over all ten digits on them (outlier
exposure), and the evaluate command measures how many are refused.

Every function takes a `numpy.random.Generator`, so a data set is reproducible from its seed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

# A digit image here: float32 (H, W) in [0, 1], white ink on black, any size.
Style = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _as_float(digit: np.ndarray) -> np.ndarray:
    values = digit.astype(np.float32)
    return values / 255.0 if digit.dtype == np.uint8 else values


def _crop(values: np.ndarray, level: float = 0.1) -> np.ndarray:
    rows = np.flatnonzero((values > level).any(axis=1))
    cols = np.flatnonzero((values > level).any(axis=0))
    if rows.size == 0:
        return values
    return values[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _resize(values: np.ndarray, size: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    """Resize to (width, height), values kept in [0, 1]."""
    image = Image.fromarray(values.astype(np.float32), mode="F").resize(size, resample)
    return np.clip(np.asarray(image), 0.0, 1.0)


def _upscale(values: np.ndarray, factor: float, resample: Image.Resampling) -> np.ndarray:
    height, width = values.shape
    return _resize(values, (max(1, round(width * factor)), max(1, round(height * factor))), resample)


def clean(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """MNIST as it is, scaled up smoothly (a drawing or a greyscale scan)."""
    return _upscale(_as_float(digit), rng.uniform(1.0, 4.0), Image.Resampling.BILINEAR)


def binary(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Thresholded at a random level: a bilevel scan or fax, hard edges, scaled up."""
    values = _upscale(_as_float(digit), rng.uniform(1.0, 4.0), Image.Resampling.BILINEAR)
    return (values > rng.uniform(0.25, 0.6)).astype(np.float32)


def postal16(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Cropped, shrunk to 16 px (aspect kept), then enlarged: a small greyscale scan scaled up."""
    values = _crop(_as_float(digit))
    scale = 16 / max(values.shape)
    small = _upscale(values, scale, Image.Resampling.BOX)
    resample = Image.Resampling.NEAREST if rng.random() < 0.5 else Image.Resampling.BILINEAR
    return _upscale(np.pad(small, 1), rng.uniform(2.0, 12.0), resample)


def blocky(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Binarised, stretched to fill a 16x16 box, enlarged with hard pixels: thick, blocky strokes."""
    values = _resize(_crop(_as_float(digit)), (16, 16), Image.Resampling.BOX)
    values = (values > rng.uniform(0.2, 0.5)).astype(np.float32)
    return _upscale(np.pad(values, 1), rng.uniform(2.0, 12.0), Image.Resampling.NEAREST)


def bitmap32(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Binary 32x32 bitmap of the digit stretched to its box (the layout of some collections)."""
    values = _resize(_crop(_as_float(digit)), (32, 32), Image.Resampling.BILINEAR)
    values = (values > rng.uniform(0.3, 0.5)).astype(np.float32)
    return _upscale(np.pad(values, 2), rng.uniform(1.0, 6.0), Image.Resampling.NEAREST)


def coarse8(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An 8x8 thumbnail scaled up: a 32x32 bitmap counted in 4x4 blocks (17 grey levels), the way
    some collections store digits (UCI optdigits' 8x8), then enlarged with hard or smooth pixels."""
    values = _crop(_as_float(digit))
    height, width = values.shape
    box = (min(32, max(4, round(32 * rng.uniform(1.0, 1.4) * width / height))), 32)  # height-normalised
    bitmap = (_resize(values, box, Image.Resampling.BILINEAR) > rng.uniform(0.3, 0.5)).astype(np.float32)
    left = (32 - bitmap.shape[1]) // 2
    square = np.zeros((32, 32), dtype=np.float32)
    square[:, left : left + bitmap.shape[1]] = bitmap
    counts = np.round(square.reshape(8, 4, 8, 4).mean(axis=(1, 3)) * 16) / 16
    resample = Image.Resampling.NEAREST if rng.random() < 0.5 else Image.Resampling.BILINEAR
    return _upscale(np.pad(counts, 1), rng.uniform(3.0, 12.0), resample)


def stretched(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Stretched to fill a square box, aspect lost (a narrow 1 becomes a wide bar)."""
    values = _crop(_as_float(digit))
    side = int(rng.integers(40, 120))
    return _resize(values, (side, side), Image.Resampling.BILINEAR)


def thick(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A marker: the stroke grown until it is up to a third of the digit's height."""
    values = _upscale(_crop(_as_float(digit)), 3.0, Image.Resampling.BILINEAR)
    grow = int(rng.integers(2, 8))  # on a ~60 px tall digit whose strokes are ~8 px
    grown = ndimage.grey_dilation(values, footprint=_disk(grow))
    return np.pad(grown, grow)


def thin(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A hairline pen on a large drawing: the digit enlarged and its stroke eroded to 1-2 px."""
    values = _upscale(_as_float(digit), rng.uniform(3.0, 6.0), Image.Resampling.BILINEAR)
    mask = values > 0.5
    core = mask
    for _ in range(20):  # erode while the stroke keeps every part: a hairline, not a gap
        eroded = ndimage.binary_erosion(core)
        if eroded.sum() < 0.35 * core.sum() or ndimage.label(eroded)[1] > ndimage.label(core)[1]:
            break
        core = eroded
    return np.clip(ndimage.gaussian_filter(core.astype(np.float32), 0.5) / 0.8, 0.0, 1.0)


def slanted(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sheared left or right by up to 30 degrees of slant, as fast handwriting leans."""
    values = np.pad(_upscale(_as_float(digit), 2.0, Image.Resampling.BILINEAR), 16)
    shear = rng.uniform(0.2, 0.55) * rng.choice([-1.0, 1.0])
    height = values.shape[0]
    matrix = np.array([[1.0, 0.0], [shear, 1.0]])  # (row, col) <- (row, col + shear * row)
    offset = np.array([0.0, -shear * height / 2])
    return np.clip(ndimage.affine_transform(values, matrix, offset=offset, order=1), 0, 1)


# Another hand (`handwriting`): a smooth random displacement field (elastic distortion, Simard et
# al. 2003: Gaussian-smoothed noise, sigma 4 px on a 28 px digit, strength up to 24, a typical
# displacement of 1 px and rarely over 3: enough to bend a stroke; at Simard's 34 a bent 1 or 9
# could pass for another digit) and a narrower or wider letterform.
ELASTIC_SIGMA = 4.0
ELASTIC_ALPHA = 24.0
ASPECT_RANGE = (0.75, 1.25)


def handwriting(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The digit as another writer might have drawn it: its strokes bent by an elastic distortion
    and the letterform made narrower or wider about its centre. Same size as the input, so every
    style can be applied after it. MNIST's 250 writers are few; an unseen collection's writers
    loop their 2s, narrow their 0s and bend their 9s in ways MNIST rarely shows."""
    values = _as_float(digit)
    height, width = values.shape
    alpha = rng.uniform(0.0, ELASTIC_ALPHA)
    shift_rows, shift_cols = (
        ndimage.gaussian_filter(rng.uniform(-1.0, 1.0, (height, width)), ELASTIC_SIGMA) * alpha
        for _ in range(2)
    )
    aspect = rng.uniform(*ASPECT_RANGE)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    centre = (width - 1) / 2
    source = [rows + shift_rows, centre + (cols - centre) / aspect + shift_cols]
    warped = ndimage.map_coordinates(values, source, order=1, mode="constant", cval=0.0)
    return np.clip(warped, 0.0, 1.0).astype(np.float32)


STYLES: dict[str, Style] = {
    "clean": clean,
    "binary": binary,
    "postal16": postal16,
    "blocky": blocky,
    "bitmap32": bitmap32,
    "coarse8": coarse8,
    "stretched": stretched,
    "thick": thick,
    "thin": thin,
    "slanted": slanted,
}


def _disk(radius: int) -> np.ndarray:
    rows, cols = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    return rows * rows + cols * cols <= radius * radius


def on_canvas(
    digit: np.ndarray,
    rng: np.random.Generator,
    size: int = 280,
    dark_on_light: bool = True,
) -> Image.Image:
    """The digit drawn at a random size (25-90% of the canvas height) and place on a canvas."""
    values = _crop(digit, 0.05)
    height = rng.uniform(0.25, 0.9) * size
    scale = height / values.shape[0]
    width = min(size - 2, values.shape[1] * scale)
    scale = min(scale, width / values.shape[1])
    resized = _upscale(values, scale, Image.Resampling.BILINEAR)
    canvas = np.zeros((size, size), dtype=np.float32)
    top = int(rng.integers(0, size - resized.shape[0] + 1))
    left = int(rng.integers(0, size - resized.shape[1] + 1))
    canvas[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
    return _to_image(canvas, dark_on_light)


def _to_image(values: np.ndarray, dark_on_light: bool) -> Image.Image:
    pixels = np.clip(values, 0, 1) * 255
    return Image.fromarray((255 - pixels if dark_on_light else pixels).astype(np.uint8), mode="L")


def row(
    digits: list[np.ndarray],
    rng: np.random.Generator,
    height: int = 160,
    dark_on_light: bool = True,
    gaps: tuple[float, float] = (0.05, 0.6),
) -> Image.Image:
    """Digits side by side as someone writes a number: uneven heights (60-100% of the tallest),
    uneven gaps (by default 5-60% of a digit's height; a negative gap overlaps the neighbour, so
    they touch), each one a little up or down."""
    pieces = []
    for digit in digits:
        values = _crop(_as_float(digit), 0.05)
        scale = rng.uniform(0.6, 1.0) * 0.7 * height / values.shape[0]
        pieces.append(_upscale(values, scale, Image.Resampling.BILINEAR))
    spaces = [int(rng.uniform(*gaps) * 0.7 * height) for _ in pieces]
    margin = int(0.15 * height)
    width = 2 * margin + sum(piece.shape[1] for piece in pieces) + max(0, sum(spaces[1:]))
    canvas = np.zeros((height, width), dtype=np.float32)
    left = margin
    for piece, gap in zip(pieces, [0, *spaces[1:]], strict=True):
        left = max(0, left + gap)
        room = height - piece.shape[0]
        top = int(np.clip(room / 2 + rng.uniform(-0.1, 0.1) * height, 0, room))
        window = canvas[top : top + piece.shape[0], left : left + piece.shape[1]]
        np.maximum(window, piece, out=window)
        left += piece.shape[1]
    return _to_image(canvas, dark_on_light)


def touching_values(digits: list[np.ndarray], rng: np.random.Generator, height: int = 160) -> np.ndarray:
    """Digits side by side whose strokes run into each other, as hurried handwriting joins them.

    Each digit (60-100% of the tallest, a little up or down) is slid left until its ink meets its
    left neighbour's, then 0-2% of the height further, so the two are one stroke group whatever
    their shapes: the case segmentation must still cut in two. Float (H, W), white on black.
    """
    pieces = []
    for digit in digits:
        values = _crop(_as_float(digit), 0.05)
        scale = rng.uniform(0.6, 1.0) * 0.7 * height / values.shape[0]
        pieces.append(_upscale(values, scale, Image.Resampling.BILINEAR))
    margin = int(0.15 * height)
    canvas = np.zeros((height, 2 * margin + sum(piece.shape[1] for piece in pieces)), dtype=np.float32)
    right_edge = np.full(height, -1)  # per row: the rightmost ink column so far (-1: none)
    left = margin
    for index, piece in enumerate(pieces):
        room = height - piece.shape[0]
        top = int(np.clip(room / 2 + rng.uniform(-0.1, 0.1) * height, 0, room))
        if index:
            ink = piece > 0.5
            rows = np.flatnonzero(ink.any(axis=1))
            own_left = np.argmax(ink[rows], axis=1)  # the piece's leftmost ink per inked row
            neighbour = right_edge[top + rows]
            shared = neighbour >= 0
            if shared.any():  # where its ink would first meet the neighbour's, then a little over
                left = int(np.max(neighbour[shared] - own_left[shared])) - int(
                    rng.integers(0, int(0.02 * height) + 1)
                )
            left = max(0, left)
        window = canvas[top : top + piece.shape[0], left : left + piece.shape[1]]
        np.maximum(window, piece[:, : window.shape[1]], out=window)
        inked = canvas > 0.5
        right_edge = np.where(inked.any(axis=1), inked.shape[1] - 1 - np.argmax(inked[:, ::-1], axis=1), -1)
        left += piece.shape[1]
    return _crop(canvas, 0.05)


def touching(digits: list[np.ndarray], rng: np.random.Generator, dark_on_light: bool = True) -> Image.Image:
    """`touching_values` drawn as an upload, with a margin of paper around it."""
    values = touching_values(digits, rng)
    return _to_image(np.pad(values, max(4, values.shape[0] // 5)), dark_on_light)


# --- Marks that are no digit ----------------------------------------------------------------

# Letters drawn as pen strokes in a unit box, chosen so that none of them is a digit's shape
# (no O, I, l, S, Z, B, g, q, b, G, T that a person could mean as 0, 1, 5, 2, 8, 9, 6, 7).
LETTERS: dict[str, list[list[tuple[float, float]]]] = {
    "A": [[(0.15, 0.95), (0.5, 0.05), (0.85, 0.95)], [(0.3, 0.6), (0.7, 0.6)]],
    "E": [[(0.8, 0.05), (0.2, 0.05), (0.2, 0.95), (0.8, 0.95)], [(0.2, 0.5), (0.65, 0.5)]],
    "F": [[(0.8, 0.05), (0.2, 0.05), (0.2, 0.95)], [(0.2, 0.5), (0.65, 0.5)]],
    "H": [[(0.2, 0.05), (0.2, 0.95)], [(0.8, 0.05), (0.8, 0.95)], [(0.2, 0.5), (0.8, 0.5)]],
    "K": [[(0.2, 0.05), (0.2, 0.95)], [(0.8, 0.05), (0.2, 0.55)], [(0.35, 0.45), (0.85, 0.95)]],
    "M": [[(0.1, 0.95), (0.15, 0.05), (0.5, 0.6), (0.85, 0.05), (0.9, 0.95)]],
    "N": [[(0.2, 0.95), (0.2, 0.05), (0.8, 0.95), (0.8, 0.05)]],
    "R": [[(0.2, 0.95), (0.2, 0.05), (0.7, 0.1), (0.75, 0.35), (0.2, 0.5), (0.8, 0.95)]],
    "W": [[(0.05, 0.05), (0.25, 0.95), (0.5, 0.35), (0.75, 0.95), (0.95, 0.05)]],
    "X": [[(0.15, 0.05), (0.85, 0.95)], [(0.85, 0.05), (0.15, 0.95)]],
    "Y": [[(0.15, 0.05), (0.5, 0.5), (0.85, 0.05)], [(0.5, 0.5), (0.5, 0.95)]],
    "#": [
        [(0.35, 0.05), (0.3, 0.95)],
        [(0.7, 0.05), (0.65, 0.95)],
        [(0.1, 0.35), (0.9, 0.35)],
        [(0.1, 0.65), (0.9, 0.65)],
    ],
}

JUNK_KINDS = ("dot", "scribble", "blob", "letter")


def junk(kind: str, rng: np.random.Generator, size: int = 280, dark_on_light: bool = True) -> Image.Image:
    """One mark that is not a digit, drawn at a random size and place on a canvas."""
    image = Image.new("L", (size, size), 0)
    canvas = ImageDraw.Draw(image)
    extent = rng.uniform(0.3, 0.8) * size
    x0, y0 = rng.uniform(0, size - extent, 2)
    pen = max(2, round(rng.uniform(0.03, 0.12) * extent))
    if kind == "dot":
        radius = rng.uniform(0.01, 0.08) * size
        cx, cy = rng.uniform(radius, size - radius, 2)
        canvas.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=255)
    elif kind == "scribble":
        turns = int(rng.integers(6, 16))
        points = [(x0 + extent * rng.random(), y0 + extent * rng.random()) for _ in range(turns)]
        canvas.line(points, fill=255, width=pen, joint="curve")
    elif kind == "blob":
        angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(5, 10))))
        radii = extent / 2 * rng.uniform(0.5, 1.0, angles.size)
        centre = (x0 + extent / 2, y0 + extent / 2)
        outline = zip(centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles), strict=True)
        canvas.polygon([(float(x), float(y)) for x, y in outline], fill=255)
    elif kind == "letter":
        strokes = LETTERS[str(rng.choice(sorted(LETTERS)))]
        width = extent * rng.uniform(0.6, 1.0)
        for stroke in strokes:
            points = [
                (x0 + (x + rng.uniform(-0.04, 0.04)) * width, y0 + (y + rng.uniform(-0.04, 0.04)) * extent)
                for x, y in stroke
            ]
            canvas.line(points, fill=255, width=pen, joint="curve")
    else:
        raise ValueError(f"unknown junk kind {kind!r}; one of {JUNK_KINDS}")
    values = np.asarray(image, dtype=np.float32) / 255.0
    return _to_image(values, dark_on_light)


def framed(values: np.ndarray, margin: float = 0.2) -> Image.Image:
    """A rendered digit with a dark margin around it, as an image the pre-processing takes."""
    pad = max(2, round(margin * max(values.shape)))
    return _to_image(np.pad(values, pad), dark_on_light=False)
