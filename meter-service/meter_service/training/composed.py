"""Real counter strips composed from real wheel crops: hundreds of real windows, not 25.

The CC BY strips are the only real counter windows here, too few to choose a threshold from or
to see a weakness in. The 18k real wheel crops are real wheels, photographed by field readers;
a row of them from one wheel name (`reader_data.prefix_of`: one ROI on one kind of meter, so one
look) is a real window in all but the frame between the wheels. Composed from a held-out split,
such strips measure the reader, the wheel count, the composition and the rejection on real
wheels; composed from the validation split, they are where METER_MIN_READING_CONFIDENCE is
chosen, never from a test set.

A strip obeys the odometer rule: every wheel but the last stands on a whole digit, unless the
last is past 9 and carries its left neighbour by the same fraction (a crop labelled with that
fraction is taken for it). It is then scaled to a strip's size (2 to 4.5 times the crops, its
width stretched or squeezed by up to 10%, as photos resized by annotation tools are), framed
with a margin of the crops' own border colour, turned by up to 2 degrees, sometimes blurred,
and JPEG-compressed.
"""

from __future__ import annotations

import io
import math
from collections import defaultdict

import numpy as np
from PIL import Image, ImageFilter

from meter_service.geometry import as_corners
from meter_service.odometer import MAX_WHEELS, MIN_WHEELS, reading_text, reading_value
from meter_service.synth import MeterSample, generate_meter
from meter_service.training.reader_data import Split

TENTHS = 10  # classes per digit: a crop's label is its position in tenths
MIN_WHOLE_CROPS = 3  # a wheel name needs this many whole-digit crops to compose strips from
STREAM = 7  # composed strips' random stream beside the generator's photos and windows
PHOTO_STREAM = 8  # composed photos' (`composed_photos`)
Pools = list[tuple[np.ndarray, np.ndarray]]  # per wheel name: (its rows, its whole-digit rows)


def pools_of(split: Split) -> Pools:
    """Per wheel name with enough whole digits: (its rows, its whole-digit rows)."""
    rows_by_prefix: dict[str, list[int]] = defaultdict(list)
    for row, crop in enumerate(split.crops):
        rows_by_prefix[crop.prefix].append(row)
    pools = []
    for rows in rows_by_prefix.values():
        rows_array = np.array(rows)
        whole = rows_array[split.labels[rows_array] % TENTHS == 0]
        if len(whole) >= MIN_WHOLE_CROPS:
            pools.append((rows_array, whole))
    return pools


def _alike(split: Split, rows: np.ndarray, anchor: int) -> np.ndarray:
    """The quarter of `rows` (at least MIN_WHOLE_CROPS) whose colour is closest to `anchor`'s:
    one wheel name can span several meters, and a window's wheels look alike."""
    looks = split.pixels[rows].reshape(len(rows), -1, 3).astype(np.float64)
    features = np.concatenate([looks.mean(axis=1), looks.std(axis=1)], axis=1)
    anchor_look = split.pixels[anchor].reshape(-1, 3).astype(np.float64)
    target = np.concatenate([anchor_look.mean(axis=0), anchor_look.std(axis=0)])
    keep = max(MIN_WHOLE_CROPS, len(rows) // 4)
    return rows[np.argsort(np.linalg.norm(features - target, axis=1))[:keep]]


def _wheel_rows(
    split: Split, rows: np.ndarray, whole: np.ndarray, wheels: int, rng: np.random.Generator
) -> list[int]:
    """Crops for a strip of `wheels` wheels that obeys the odometer rule, alike in look."""
    labels = split.labels
    anchor = int(rng.choice(whole))
    rows, whole = _alike(split, rows, anchor), _alike(split, whole, anchor)
    chosen = [int(r) for r in rng.choice(whole, size=wheels - 1)]
    for _ in range(8):
        last = int(rng.choice(rows))
        if labels[last] <= 9 * TENTHS:  # not carrying: every other wheel rests on a digit
            return [*chosen, last]
        fraction = labels[last] % TENTHS
        carried = rows[(labels[rows] % TENTHS == fraction) & (labels[rows] < 9 * TENTHS)]
        if len(carried):
            return [*chosen[:-1], int(rng.choice(carried)), last]
    return [*chosen[:-1], int(rng.choice(whole)), int(rng.choice(whole))]


def _frame_colour(pixels: np.ndarray) -> tuple[int, int, int]:
    """The median colour of the crops' left and right edges: the frame between real wheels."""
    edges = np.concatenate([pixels[:, :, :2].reshape(-1, 3), pixels[:, :, -2:].reshape(-1, 3)])
    return tuple(int(v) for v in np.median(edges, axis=0))  # type: ignore[return-value]


def compose_strip(split: Split, rows: list[int], rng: np.random.Generator) -> MeterSample:
    """The crops `rows` of `split`, left to right, as one photographed window strip."""
    pixels = split.pixels[rows]
    positions = [float(split.labels[r]) / TENTHS for r in rows]
    row = Image.fromarray(np.concatenate(list(pixels), axis=1))
    scale = rng.uniform(2.0, 4.5)
    width = round(row.width * scale * rng.uniform(0.9, 1.1))
    height = round(row.height * scale)
    row = row.resize((width, height), Image.Resampling.BICUBIC)
    pad_x = rng.uniform(0, 0.04, size=2) * width
    pad_y = rng.uniform(0, 0.2, size=2) * height
    left, top = round(pad_x[0]), round(pad_y[0])
    frame = _frame_colour(pixels)
    canvas = Image.new("RGB", (width + left + round(pad_x[1]), height + top + round(pad_y[1])), frame)
    canvas.paste(row, (left, top))
    angle = rng.uniform(-2, 2)
    canvas = canvas.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=frame)
    if rng.random() < 0.3:
        canvas = canvas.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    buffer = io.BytesIO()
    canvas.save(buffer, format="JPEG", quality=int(rng.integers(50, 96)))
    image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    corners = _turned_box(left, top, width, height, angle, canvas.size)
    return MeterSample(
        image=image,
        text=reading_text(positions),
        value=reading_value(positions),
        positions=positions,
        corners=corners,
        wheels=len(positions),
        style={"source": "composed real crops", "scale": round(scale, 2)},
        shown=positions,
    )


def _turned_box(
    left: float, top: float, width: float, height: float, angle: float, size: tuple[int, int]
) -> np.ndarray:
    """The pasted row's corners after PIL's rotate by `angle` degrees about the image centre."""
    box = np.array([[left, top], [left + width, top], [left + width, top + height], [left, top + height]])
    centre = np.array(size, dtype=np.float64) / 2
    theta = math.radians(angle)  # PIL turns counter-clockwise on screen (y down)
    turn = np.array([[math.cos(theta), math.sin(theta)], [-math.sin(theta), math.cos(theta)]])
    return as_corners((box - centre) @ turn.T + centre)


def composed_strips(split: Split, count: int, seed: int) -> list[MeterSample]:
    """`count` strips of 4 to 8 wheels from `split`'s crops, each from one wheel name."""
    return [compose_strip(split, rows, rng) for rows, rng in _strip_rows(split, count, seed, STREAM)]


def composed_photos(split: Split, count: int, seed: int) -> list[MeterSample]:
    """`count` photos of generated meters whose windows show 4 to 8 real wheels from `split`'s
    crops, each row from one wheel name (`synth.generate_meter` with `wheels_image`): the
    locator and the reader on real wheels, in faces with everything the generator draws round
    them (plates, printed codes, dials, glare, shadows, oblique views, small windows)."""
    return [strip_photo(split, rows, rng) for rows, rng in _strip_rows(split, count, seed, PHOTO_STREAM)]


def strip_photo(split: Split, rows: list[int], rng: np.random.Generator) -> MeterSample:
    """A generated meter photo whose window shows the crops `rows` of `split`, left to right."""
    positions = [float(split.labels[row]) / TENTHS for row in rows]
    wheels_image = Image.fromarray(np.concatenate(list(split.pixels[rows]), axis=1))
    return generate_meter(rng, len(rows), positions=positions, wheels_image=wheels_image)


def random_strip(split: Split, pools: Pools, rng: np.random.Generator) -> list[int]:
    """One strip's crops: a wheel name drawn by its share of the crops (`pools`, from `pools_of`),
    4 to 8 of its wheels that obey the odometer rule."""
    weights = np.array([len(rows) for rows, _ in pools], dtype=np.float64)
    rows, whole = pools[int(rng.choice(len(pools), p=weights / weights.sum()))]
    wheels = int(rng.integers(MIN_WHEELS, MAX_WHEELS + 1))
    return _wheel_rows(split, rows, whole, wheels, rng)


def _strip_rows(
    split: Split, count: int, seed: int, stream: int
) -> list[tuple[list[int], np.random.Generator]]:
    """For each of `count` strips: its crops (`random_strip`) and its random generator, to go on
    drawing the strip's look from."""
    pools = pools_of(split)
    if not pools:
        return []
    chosen = []
    for index in range(count):
        rng = np.random.default_rng([seed, stream, index])
        chosen.append((random_strip(split, pools, rng), rng))
    return chosen
