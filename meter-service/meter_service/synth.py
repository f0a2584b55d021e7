"""Synthetic water-meter photos with exact labels: the locator's training data and test fixtures.

A photo is built the way a real one comes about: a row of wheels (`wheels.render_wheel`) behind
a counter window, on a round dial face with a bezel, printed clutter (brand, units, serial
numbers, small pointer dials), photographed at an angle (rotation, mild perspective, scale,
position) against a cluttered background, with uneven light, glare, blur, sensor noise and
JPEG compression. Every random choice comes from one `numpy.random.Generator`, so a seed
reproduces a sample exactly.

The label's `corners` are the outer edges of the wheel row (TL, TR, BR, BL, continuous image
pixels, see `geometry`): rectified to (N*20) x 32 and cut into N equal cells, each cell is one
wheel with half a separator either side, like the real 20x32 crops.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field, replace
from typing import Any, cast

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from meter_service.geometry import Corners, as_corners, homography, transform_points, warp
from meter_service.odometer import MAX_WHEELS, MIN_WHEELS, reading_text, reading_value, wheel_positions
from meter_service.wheels import (
    WheelStyle,
    font_paths,
    random_style,
    red_variant,
    render_wheel,
    shown_position,
    wobbled,
)

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class WindowStyle:
    """How a counter window looks: one style per wheel plus what lies between and around them."""

    wheel_styles: tuple[WheelStyle, ...]
    cell_aspect: float  # wheel width / height
    separator: float  # gap between wheels / wheel width
    separator_colour: Colour
    frame_colour: Colour
    frame_pad: float  # frame margin round the row / wheel height
    red_wheels: int  # how many rightmost wheels are red decimal wheels

    @property
    def wheels(self) -> int:
        return len(self.wheel_styles)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary for labels (fonts by file name)."""
        first = self.wheel_styles[0]
        return {
            "font": first.font.rsplit("/", 1)[-1],
            "ink": list(first.ink),
            "paper": list(first.paper),
            "red_wheels": self.red_wheels,
            "cell_aspect": round(self.cell_aspect, 3),
            "separator": round(self.separator, 3),
        }


@dataclass
class MeterSample:
    """One generated image and everything true about it."""

    image: Image.Image
    text: str  # digits as read, leading zeros kept
    value: float  # reading with the last wheel's roll as fraction
    positions: list[float]  # per-wheel position 0..10, leftmost first
    corners: Corners  # wheel row TL, TR, BR, BL in image pixels
    wheels: int
    style: dict[str, Any] = field(default_factory=dict)
    window_style: WindowStyle | None = None  # the full look, for tests and re-rendering
    # Where each wheel appears to stand in its slot (`wheels.shown_position`): its position
    # shifted by how far off centre its drum was drawn. What a reader of one cell can see.
    shown: list[float] = field(default_factory=list)

    @classmethod
    def drawn(
        cls,
        image: Image.Image,
        positions: list[float],
        corners: Corners,
        style: WindowStyle,
        shown: list[float],
    ) -> MeterSample:
        """The sample of an image drawn with the wheels at `positions` (appearing at `shown`):
        its labels follow from them."""
        return cls(
            image=image,
            text=reading_text(positions),
            value=reading_value(positions),
            positions=[float(p) for p in positions],
            corners=corners,
            wheels=len(positions),
            style=style.describe(),
            window_style=style,
            shown=[float(p) for p in shown],
        )

    def label(self) -> dict[str, Any]:
        """The JSON-ready label (everything but the image)."""
        return {
            "text": self.text,
            "value": self.value,
            "positions": [round(p, 4) for p in self.positions],
            "shown": [round(p, 4) for p in self.shown],
            "corners": np.round(self.corners.astype(np.float64), 2).tolist(),
            "wheels": self.wheels,
            "style": self.style,
        }


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The generator for sample `index` of a set seeded `seed`: samples are independent of how
    many are made and in what order (or by how many workers)."""
    return np.random.default_rng([seed, index])


# --- Readings and styles ---------------------------------------------------------------------


def random_positions(rng: np.random.Generator, wheels: int) -> list[float]:
    """Wheel positions of a random reading, often with wheels caught mid-roll.

    About a third of readings end in a run of 9s with the last wheel past 9, so that the carry
    has every wheel of the run turning together (the state readers find hardest); leading zeros
    are common, as on real meters that have not run far.
    """
    digits = int(rng.integers(1, wheels + 1))  # significant digits before leading zeros
    integer = int(rng.integers(0, 10**digits))
    roll = rng.random()
    if roll < 0.35:
        nines = int(rng.integers(1, wheels))
        integer = (integer // 10**nines) * 10**nines + (10**nines - 1)
        fraction = float(rng.uniform(0.05, 0.95))
    elif roll < 0.65:
        fraction = float(rng.uniform(0.0, 1.0))
    else:
        fraction = float(rng.uniform(0.0, 0.12))  # standing (nearly) still
    return wheel_positions(integer + fraction, wheels)


def random_window_style(rng: np.random.Generator, wheels: int, segments: float = 0.0) -> WindowStyle:
    """A counter window's look; `segments`: the chance its digits are segments (`random_style`)."""
    base = random_style(rng, segments=segments)
    red = int(rng.integers(1, min(3, wheels - 2) + 1)) if rng.random() < 0.35 else 0
    red_style = red_variant(base, rng) if red else base
    styles = tuple(red_style if index >= wheels - red else base for index in range(wheels))
    separator = _tone(rng, 15, 80) if rng.random() < 0.7 else _tone(rng, 150, 235)
    return WindowStyle(
        wheel_styles=styles,
        cell_aspect=float(rng.uniform(0.52, 0.78)),
        separator=float(rng.uniform(0.04, 0.45)),
        separator_colour=separator,
        frame_colour=_tone(rng, 10, 70) if rng.random() < 0.75 else _tone(rng, 160, 235),
        frame_pad=float(rng.uniform(0.08, 0.35)),
        red_wheels=red,
    )


def _tone(rng: np.random.Generator, low: int, high: int, tint: int = 10) -> Colour:
    base = int(rng.integers(low, high + 1))
    return tuple(int(v) for v in np.clip(base + rng.integers(-tint, tint + 1, size=3), 0, 255))  # type: ignore[return-value]


def _hue(rng: np.random.Generator, saturation: float = 1.0) -> Colour:
    """A random colour, pulled towards grey by (1 - `saturation`)."""
    colour = rng.integers(0, 256, size=3).astype(float)
    colour = colour.mean() + (colour - colour.mean()) * saturation
    return tuple(int(v) for v in np.clip(colour, 0, 255))  # type: ignore[return-value]


_FACE_COLOURS = ((30, 60, 140), (20, 20, 25), (15, 40, 90), (60, 110, 170), (190, 200, 215), (35, 90, 60))


def _font(rng: np.random.Generator, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    fonts = font_paths()
    if not fonts:
        return ImageFont.load_default(max(size, 6))
    return ImageFont.truetype(fonts[int(rng.integers(len(fonts)))], max(size, 6))


# --- The wheel row and its window ------------------------------------------------------------


def render_row(
    positions: list[float], style: WindowStyle, cell_h: int, rng: np.random.Generator
) -> tuple[Image.Image, list[float]]:
    """The wheel row exactly: N equal slots, each a wheel with half a separator either side.
    Returns it and where each wheel appears to stand (`wheels.shown_position`)."""
    cell_w = max(4, round(cell_h * style.cell_aspect))
    gap = round(cell_w * style.separator / 2)  # per side of a wheel
    slot = cell_w + 2 * gap
    row = Image.new("RGB", (slot * len(positions), cell_h), style.separator_colour)
    draw = ImageDraw.Draw(row)
    shown = []
    for index, (position, wheel_style) in enumerate(zip(positions, style.wheel_styles, strict=True)):
        drum = wobbled(wheel_style, rng)
        shown.append(shown_position(position, drum))
        cell = render_wheel(position, drum, cell_w, cell_h)
        row.paste(cell, (index * slot + gap, 0))
        if gap >= 2 and rng.random() < 0.5:  # the drum's rim: a thin line at the wheel's edge
            rim = _tone(rng, 60, 200)
            for x in (index * slot + gap - 1, index * slot + gap + cell_w):
                draw.line([(x, 0), (x, cell_h)], fill=rim)
    return row, shown


def _shade(image: Image.Image, rng: np.random.Generator, strength: float) -> Image.Image:
    """Darken the row's top and bottom: the window's shadow on the drums."""
    height = image.height
    rows = np.linspace(-1, 1, height)
    profile = 1 - strength * np.clip(np.abs(rows) - 0.6, 0, None) / 0.4
    shaded = np.asarray(image, dtype=np.float32) * profile[:, None, None]
    return Image.fromarray(np.clip(shaded, 0, 255).astype(np.uint8))


def _window(
    positions: list[float],
    style: WindowStyle,
    cell_h: int,
    rng: np.random.Generator,
    wheels_image: Image.Image | None = None,
) -> tuple[Image.Image, tuple[int, int, int, int], list[float]]:
    """The counter window: row inside its frame. Returns it, the row's box (x0, y0, x1, y1) and
    where the wheels appear to stand. `wheels_image`: the row itself, drawn elsewhere (real wheel
    crops side by side), scaled to `cell_h` high instead of rendering one."""
    if wheels_image is None:
        row, shown = render_row(positions, style, cell_h, rng)
    else:
        size = (max(1, round(wheels_image.width * cell_h / wheels_image.height)), cell_h)
        row, shown = wheels_image.convert("RGB").resize(size, Image.Resampling.BICUBIC), list(positions)
    row = _shade(row, rng, float(rng.uniform(0, 0.5)))
    pad_y = max(2, round(cell_h * style.frame_pad))
    pad_x = max(2, round(cell_h * style.frame_pad * rng.uniform(0.6, 1.6)))
    window = Image.new("RGB", (row.width + 2 * pad_x, row.height + 2 * pad_y), style.frame_colour)
    draw = ImageDraw.Draw(window)
    if rng.random() < 0.5:  # a bevel: lighter or darker inner outline
        edge = _tone(rng, 0, 255)
        inset = max(1, pad_y // 3)
        draw.rectangle(
            [pad_x - inset, pad_y - inset, pad_x + row.width + inset - 1, pad_y + row.height + inset - 1],
            outline=edge,
            width=max(1, inset // 2),
        )
    window.paste(row, (pad_x, pad_y))
    if style.red_wheels and rng.random() < 0.5:  # a red frame round the decimal wheels
        slot = row.width / len(positions)
        x0 = pad_x + round(slot * (len(positions) - style.red_wheels))
        draw.rectangle(
            [x0 - 1, pad_y - 2, pad_x + row.width, pad_y + row.height + 1],
            outline=(int(rng.integers(160, 230)), 20, 30),
            width=max(1, cell_h // 16),
        )
    return window, (pad_x, pad_y, pad_x + row.width, pad_y + row.height), shown


# --- The dial face ---------------------------------------------------------------------------

_WORDS = (
    "m³", "m3", "Q3 2.5", "Q3=4 m³/h", "R160-H", "R100", "MID", "CE M19", "PN16", "T30", "T50",
    "Class B", "Class C", "ZENNER", "SENSUS", "ITRON", "ELSTER", "DIEHL", "B METERS", "MADDALENA",
    "Made in EU", "x0.1", "x0.01", "x0.001", "x0.0001", "DN20", "ISO 4064", "2019", "2021",
    "Qn 1.5", "Lit.", "litres", "WATER", "KALTWASSER", "cold water", "IP68", "MTK", "ETK",
)  # fmt: skip


def _clutter_text(rng: np.random.Generator) -> str:
    kind = rng.random()
    if kind < 0.55:
        return str(_WORDS[int(rng.integers(len(_WORDS)))])
    if kind < 0.8:  # serial numbers: digit strings that are NOT the counter
        return ("No " if rng.random() < 0.4 else "") + "".join(
            str(d) for d in rng.integers(0, 10, size=int(rng.integers(5, 11)))
        )
    letters = "ABCDEFGHKLMNPRSTUVWZ"
    return "".join(letters[int(i)] for i in rng.integers(0, len(letters), size=int(rng.integers(3, 8))))


def _dial(
    draw: ImageDraw.ImageDraw, centre: tuple[float, float], radius: float, rng: np.random.Generator
) -> None:
    """A small pointer dial (the litre dials below a counter): ring, ticks, numbers, red hand."""
    cx, cy = centre
    ring = _tone(rng, 0, 80) if rng.random() < 0.7 else (200, 30, 30)
    draw.ellipse(
        [cx - radius, cy - radius, cx + radius, cy + radius], outline=ring, width=max(1, round(radius / 12))
    )
    for tick in range(10):
        angle = 2 * math.pi * tick / 10 - math.pi / 2
        inner = radius * 0.75
        draw.line(
            [(cx + inner * math.cos(angle), cy + inner * math.sin(angle)),
             (cx + radius * math.cos(angle), cy + radius * math.sin(angle))],
            fill=ring,
            width=max(1, round(radius / 15)),
        )  # fmt: skip
    if radius > 12 and rng.random() < 0.6:
        font = _font(rng, round(radius * 0.35))
        for tick in range(0, 10, 2):
            angle = 2 * math.pi * tick / 10 - math.pi / 2
            at = (cx + radius * 0.5 * math.cos(angle), cy + radius * 0.5 * math.sin(angle))
            draw.text(at, str(tick), fill=ring, font=font, anchor="mm")
    angle = rng.uniform(0, 2 * math.pi)
    tip = (cx + radius * 0.85 * math.cos(angle), cy + radius * 0.85 * math.sin(angle))
    side = (math.cos(angle + math.pi / 2) * radius * 0.12, math.sin(angle + math.pi / 2) * radius * 0.12)
    hand = (int(rng.integers(170, 240)), int(rng.integers(0, 50)), int(rng.integers(0, 50)))
    draw.polygon([tip, (cx + side[0], cy + side[1]), (cx - side[0], cy - side[1])], fill=hand)


def _radial_disc(size: int, inner: Colour, outer: Colour) -> Image.Image:
    """A disc filled with a radial gradient (plastic or metal catching light)."""
    axis = np.linspace(-1, 1, 96, dtype=np.float32)  # smooth: compute small, blow up
    radius = np.sqrt(axis[None, :] ** 2 + axis[:, None] ** 2)
    mix = np.clip(radius, 0, 1)[..., None]
    pixels = np.array(inner, dtype=np.float32) * (1 - mix) + np.array(outer, dtype=np.float32) * mix
    return Image.fromarray(pixels.astype(np.uint8)).resize((size, size), Image.Resampling.BILINEAR)


def _face(
    window: Image.Image, row_box: tuple[int, int, int, int], rng: np.random.Generator, counter: bool = True
) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """The round meter (RGBA) with the window on it; returns it and the row's box on it. Without
    a `counter`, a serial-number plate takes the window's place (a negative for the locator)."""
    diameter = round(window.width / rng.uniform(0.5, 0.78))
    diameter += diameter % 2
    meter = Image.new("RGBA", (diameter, diameter), (0, 0, 0, 0))
    mask = Image.new("L", (diameter, diameter), 0)
    ImageDraw.Draw(mask).ellipse([0, 0, diameter - 1, diameter - 1], fill=255)
    bezel_kind = rng.random()
    if bezel_kind < 0.35:
        bezel = (_tone(rng, 170, 230), _tone(rng, 70, 130))  # chrome / steel
    elif bezel_kind < 0.55:
        bezel = ((200, 160, 80), (120, 85, 30))  # brass
    else:
        colour = _hue(rng, 0.8) if rng.random() < 0.6 else _tone(rng, 10, 60)
        shade = (int(colour[0] * 0.55), int(colour[1] * 0.55), int(colour[2] * 0.55))
        bezel = (colour, shade)
    meter.paste(_radial_disc(diameter, *bezel), (0, 0), mask)
    face_r = diameter / 2 * rng.uniform(0.8, 0.9)
    kind = rng.random()
    if kind < 0.65:
        face_colour = _tone(rng, 195, 250)  # white, cream, light grey
    elif kind < 0.9:
        face_colour = _FACE_COLOURS[int(rng.integers(len(_FACE_COLOURS)))]
    else:
        face_colour = _hue(rng, 0.6)
    draw = ImageDraw.Draw(meter)
    centre = diameter / 2
    draw.ellipse([centre - face_r, centre - face_r, centre + face_r, centre + face_r], fill=face_colour)
    if rng.random() < 0.5:
        rim = _tone(rng, 0, 120)
        draw.ellipse(
            [centre - face_r, centre - face_r, centre + face_r, centre + face_r],
            outline=rim,
            width=max(1, diameter // 120),
        )
    # The window sits across the upper middle of the face, inside the face circle.
    half_w, half_h = window.width / 2, window.height / 2
    limit = math.sqrt(max(face_r**2 - half_w**2, 1.0)) - half_h
    wy = centre + rng.uniform(-0.55, 0.15) * max(limit, 1.0)
    wx = centre + rng.uniform(-0.05, 0.05) * face_r
    left, top = round(wx - half_w), round(wy - half_h)
    ink = _tone(rng, 0, 60) if sum(face_colour) > 380 else _tone(rng, 200, 255)
    _face_clutter(meter, diameter, face_r, (left, top, left + window.width, top + window.height), ink, rng)
    if counter:
        meter.paste(window, (left, top))
    else:
        plate = serial_plate(rng, window.height, window.width)
        inset = ((window.width - plate.width) // 2, (window.height - plate.height) // 2)
        meter.paste(plate, (left + inset[0], top + inset[1]))
    x0, y0, x1, y1 = row_box
    return meter, (left + x0, top + y0, left + x1, top + y1)


def _face_clutter(
    meter: Image.Image,
    diameter: int,
    face_r: float,
    window_box: tuple[int, int, int, int],
    ink: Colour,
    rng: np.random.Generator,
) -> None:
    """Printed words, serial-number plates and small dials around (never on) the window."""
    draw = ImageDraw.Draw(meter)
    centre = diameter / 2
    wx0, wy0, wx1, wy1 = window_box
    placed: list[tuple[float, float, float, float]] = [(wx0 - 4, wy0 - 4, wx1 + 4, wy1 + 4)]

    def free(box: tuple[float, float, float, float]) -> bool:
        inside = all(math.hypot(x - centre, y - centre) < face_r * 0.95 for x in box[::2] for y in box[1::2])
        return inside and not any(
            box[0] < p[2] and p[0] < box[2] and box[1] < p[3] and p[1] < box[3] for p in placed
        )

    window_h = wy1 - wy0
    if rng.random() < 0.55:  # a serial-number plate: a row of digits that is NOT the counter
        for _ in range(10):  # a few tries to find room
            plate = serial_plate(rng, window_h, wx1 - wx0)
            x = centre + rng.uniform(-0.7, 0.7) * face_r - plate.width / 2
            y = centre + rng.uniform(-0.7, 0.75) * face_r - plate.height / 2
            box = (x, y, x + plate.width, y + plate.height)
            if free(box):
                meter.paste(plate, (round(x), round(y)))
                placed.append(box)
                break
    for _ in range(int(rng.integers(0, 4))):  # dials
        radius = window_h * rng.uniform(0.4, 1.2)
        cx, cy = centre + rng.uniform(-0.6, 0.6) * face_r, centre + rng.uniform(-0.2, 0.7) * face_r
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
        if free(box):
            _dial(draw, (cx, cy), radius, rng)
            placed.append(box)
    for _ in range(int(rng.integers(1, 8))):  # text
        font = _font(rng, round(window_h * rng.uniform(0.18, 0.7)))
        text = _clutter_text(rng)
        x, y = centre + rng.uniform(-0.75, 0.75) * face_r, centre + rng.uniform(-0.75, 0.75) * face_r
        box = draw.textbbox((x, y), text, font=font, anchor="mm")
        if free(box):
            colour = ink if rng.random() < 0.8 else (200, 30, 30)
            draw.text((x, y), text, fill=colour, font=font, anchor="mm")
            placed.append(box)


def serial_plate(rng: np.random.Generator, window_h: int, window_w: int) -> Image.Image:
    """A printed number plate of the kind that sits on meter faces (serial number, model code):
    a framed row of 5-10 flat printed digits, light on dark or dark on light, about the size of
    the counter window. Nothing turns in it (no drums, no cells, no digits half in view), which
    is what tells a real counter window from it."""
    digits = "".join(str(d) for d in rng.integers(0, 10, size=int(rng.integers(5, 11))))
    if rng.random() < 0.3:
        digits = "No " + digits if rng.random() < 0.5 else digits[:4] + "-" + digits[4:]
    height = max(8, round(window_h * rng.uniform(0.3, 0.8)))
    font = _font(rng, round(height * rng.uniform(0.55, 0.8)))
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    x0, _, x1, _ = probe.textbbox((0, 0), digits, font=font)
    pad = round(height * rng.uniform(0.1, 0.3))
    width = min(round(x1 - x0 + 2 * pad), max(round(window_w * 0.9), 20))
    if rng.random() < 0.5:
        ground, ink = _tone(rng, 5, 60), _tone(rng, 190, 255)
    else:
        ground, ink = _tone(rng, 200, 250), _tone(rng, 0, 60)
    if rng.random() < 0.15:
        ink = (int(rng.integers(150, 230)), 25, 30)
    plate = Image.new("RGB", (width, height), ground)
    draw = ImageDraw.Draw(plate)
    draw.text((width / 2, height / 2), digits, fill=ink, font=font, anchor="mm")
    if rng.random() < 0.7:
        draw.rectangle([0, 0, width - 1, height - 1], outline=_tone(rng, 0, 255), width=max(1, height // 12))
    return plate


# --- The photograph --------------------------------------------------------------------------


def _overlays(photo: Image.Image, meter_alpha: Image.Image, rng: np.random.Generator) -> Image.Image:
    """What lies between a real meter and the camera, or is added by it: dirt and haze on the
    transparent cover, the shadow of a hand or phone, a timestamp burned into a corner."""
    width, height = photo.size
    if rng.random() < 0.35:  # dirt specks and a milky haze on the cover, over the meter only
        dirt = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        draw = ImageDraw.Draw(dirt)
        for _ in range(int(rng.integers(20, 200))):
            cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0.5, 3.5)
            tone = _tone(rng, 40, 140)
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(*tone, int(rng.integers(60, 200))))
        haze = Image.new("RGBA", (width, height), (*_tone(rng, 180, 240), int(rng.integers(0, 70))))
        layer = Image.alpha_composite(haze, dirt.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.2))))
        layer.putalpha(
            Image.fromarray(np.minimum(np.asarray(layer.getchannel("A")), np.asarray(meter_alpha)))
        )
        photo = Image.alpha_composite(photo, layer)
    if rng.random() < 0.25:  # the soft shadow of a hand or phone across part of the picture
        shade = Image.new("L", (width, height), 0)
        points = [(rng.uniform(-0.3, 1.3) * width, rng.uniform(-0.3, 1.3) * height) for _ in range(5)]
        ImageDraw.Draw(shade).polygon(points, fill=int(rng.integers(70, 170)))
        shade = shade.filter(ImageFilter.GaussianBlur(rng.uniform(8, 40)))
        dark = Image.new("RGBA", (width, height), (0, 0, 0, 255))
        dark.putalpha(shade)
        photo = Image.alpha_composite(photo, dark)
    if rng.random() < 0.25:  # a camera's date and time in a corner
        stamp = (
            f"{int(rng.integers(2015, 2027))}-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}"
            f" {int(rng.integers(0, 24)):02d}:{int(rng.integers(0, 60)):02d}:{int(rng.integers(0, 60)):02d}"
        )
        font = _font(rng, max(8, round(min(width, height) * rng.uniform(0.03, 0.06))))
        colour = (255, 150, 30) if rng.random() < 0.6 else _tone(rng, 220, 255)
        corner = int(rng.integers(4))
        x = width * (0.03 if corner % 2 == 0 else 0.97)
        y = height * (0.04 if corner < 2 else 0.96)
        anchor = ("l" if corner % 2 == 0 else "r") + ("t" if corner < 2 else "b")
        ImageDraw.Draw(photo).text((x, y), stamp, fill=(*colour, 255), font=font, anchor=anchor)
    return photo


def _noise_field(rng: np.random.Generator, size: tuple[int, int], cells: int) -> np.ndarray:
    """Smooth random field in 0..1 of `size` (w, h): coarse noise blown up bicubically."""
    coarse = rng.random((cells, cells)).astype(np.float32)
    image = Image.fromarray((coarse * 255).astype(np.uint8)).resize(size, Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.float32) / 255


def background(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A cluttered backdrop: wall, tiles, pipes, boxes, printed labels, stains."""
    width, height = size
    base = np.array(
        _hue(rng, rng.uniform(0.1, 0.7)) if rng.random() < 0.5 else _tone(rng, 30, 220, 30), np.float32
    )
    texture = cast(
        np.ndarray, sum(_noise_field(rng, size, cells) * rng.uniform(0, 60) for cells in (3, 9, 40))
    )
    pixels = base + (texture - texture.mean())[..., None] * rng.uniform(0.5, 1.5, size=3)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    if rng.random() < 0.35:  # tiles / bricks
        step = int(rng.integers(20, 90))
        grout = _tone(rng, 60, 220)
        for x in range(int(rng.integers(0, step)), width, step):
            draw.line([(x, 0), (x, height)], fill=grout, width=int(rng.integers(1, 4)))
        for y in range(int(rng.integers(0, step)), height, step):
            draw.line([(0, y), (width, y)], fill=grout, width=int(rng.integers(1, 4)))
    for _ in range(int(rng.integers(0, 5))):  # pipes and bars
        thickness = int(rng.integers(6, max(8, min(size) // 5)))
        colour = _hue(rng, 0.7) if rng.random() < 0.5 else _tone(rng, 60, 220)
        if rng.random() < 0.5:
            y = int(rng.integers(0, height))
            draw.rectangle([0, y, width, y + thickness], fill=colour)
            draw.line(
                [(0, y + thickness // 3), (width, y + thickness // 3)], fill=_tone(rng, 200, 255), width=2
            )
        else:
            x = int(rng.integers(0, width))
            draw.rectangle([x, 0, x + thickness, height], fill=colour)
    for _ in range(int(rng.integers(0, 6))):  # boxes, rings and labels
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(10, width // 2 + 11)), int(rng.integers(10, height // 2 + 11))
        shape = rng.random()
        if shape < 0.4:
            draw.rectangle([x, y, x + w, y + h], fill=_hue(rng, 0.6), outline=_tone(rng, 0, 255))
        elif shape < 0.7:
            draw.ellipse([x, y, x + w, y + w], outline=_tone(rng, 0, 255), width=int(rng.integers(2, 10)))
        else:
            font = _font(rng, int(rng.integers(10, 40)))
            draw.text((x, y), _clutter_text(rng), fill=_tone(rng, 0, 255), font=font)
    return image


def _lighting(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uneven light, colour cast and glare spots, on float RGB pixels."""
    height, width = pixels.shape[:2]
    light = 1 + (_noise_field(rng, (width, height), 3) - 0.5) * rng.uniform(0, 1.0)
    gradient = np.linspace(-1, 1, width)[None, :] * rng.uniform(-0.35, 0.35)
    gradient = gradient + np.linspace(-1, 1, height)[:, None] * rng.uniform(-0.35, 0.35)
    pixels = pixels * (light + gradient)[..., None] * rng.uniform(0.55, 1.25)
    pixels = pixels * rng.uniform(0.88, 1.12, size=3)
    for _ in range(int(rng.poisson(0.8))):  # glare: soft bright ellipses
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        rx, ry = rng.uniform(0.02, 0.2) * width, rng.uniform(0.02, 0.2) * height
        yy, xx = np.ogrid[:height, :width]
        blob = np.exp(-(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2))
        pixels = pixels + blob[..., None] * rng.uniform(40, 170)
    return pixels


def _finish(image: Image.Image, rng: np.random.Generator, scale: float) -> Image.Image:
    """Camera faults: lighting, blur, noise, JPEG. `scale` ~ pixels per wheel-height / 32."""
    pixels = _lighting(np.asarray(image, dtype=np.float32), rng)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    if rng.random() < 0.6:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.2, 1.2) * max(scale, 0.5)))
    noisy = np.asarray(image, dtype=np.float32) + rng.normal(
        0, rng.uniform(0, 8), (image.height, image.width, 1)
    )
    image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(rng.integers(30, 96)))
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def generate_meter(
    rng: np.random.Generator,
    wheels: int = 5,
    size: tuple[int, int] | None = None,
    max_rotation: float = 25.0,
    positions: list[float] | None = None,
    counter: bool = True,
    segments: float = 0.0,
    wheels_image: Image.Image | None = None,
) -> MeterSample:
    """One photo of a meter: random reading, look, pose, backdrop and camera faults.

    `size` (w, h) fixes the photo's size (random landscape or portrait, 320-720 px, when None);
    `positions` fixes the reading. `counter=False` draws a meter face without its counter window,
    a number plate in its place: nothing on it is a reading (`corners` say where the window
    would have been). `segments` is the chance of segment digits (`wheels.random_style`).
    `wheels_image` is a row of `wheels` wheels drawn elsewhere (real wheel crops side by side,
    `training.composed.composed_photos`), shown in the window instead of rendered ones, with no
    gaps between them; `positions` must then say what it shows.
    """
    if not MIN_WHEELS <= wheels <= MAX_WHEELS:
        raise ValueError(f"wheels must be {MIN_WHEELS}..{MAX_WHEELS}, got {wheels}")
    if wheels_image is not None and (positions is None or len(positions) != wheels):
        raise ValueError("a wheels_image needs the positions of its wheels, one per wheel")
    if size is None:
        long_side = int(rng.integers(320, 721))
        short_side = round(long_side * rng.uniform(0.6, 1.0))
        size = (long_side, short_side) if rng.random() < 0.6 else (short_side, long_side)
    width, height = size
    positions = list(positions) if positions is not None else random_positions(rng, wheels)
    style = random_window_style(rng, wheels, segments)
    if wheels_image is not None:  # its own cells: their shape, no separators, no red drawn
        aspect = wheels_image.width / wheels_image.height / wheels
        style = replace(style, cell_aspect=aspect, separator=0.0, red_wheels=0)

    # Pose first, so that the face is rendered at about the resolution it will be shown at.
    angle = math.radians(rng.uniform(-max_rotation, max_rotation))
    slot_aspect = style.cell_aspect * (1 + style.separator)
    row_aspect = wheels * slot_aspect  # row width / height
    fit = min(width, height) if rng.random() < 0.5 else max(width, height)
    # The row spans 18-80% of the photo, and in a quarter of photos only 8-20% of it (a photo
    # of the whole meter, or of the whole pipe run, from a distance).
    row_w_photo = fit * (rng.uniform(0.08, 0.2) if rng.random() < 0.25 else rng.uniform(0.18, 0.8))
    extent = row_w_photo * abs(math.cos(angle)) + row_w_photo / row_aspect * abs(math.sin(angle))
    row_w_photo *= min(1.0, 0.9 * min(width, height) / max(extent, 1.0))  # must fit the photo
    cell_h_photo = row_w_photo / row_aspect
    cell_h = max(12, round(cell_h_photo * rng.uniform(1.0, 1.4)))  # render a little larger

    window, row_box, shown = _window(positions, style, cell_h, rng, wheels_image)
    meter, (x0, y0, x1, y1) = _face(window, row_box, rng, counter)
    row_face = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)

    # Similarity (scale, turn) about the row centre, then mild perspective, then a shift that
    # keeps the row inside the photo.
    scale = row_w_photo / (x1 - x0)
    centre = row_face.mean(axis=0)
    turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    square = np.array(
        [[0, 0], [meter.width, 0], [meter.width, meter.height], [0, meter.height]], dtype=np.float64
    )
    placed = (square - centre) @ turn.T * scale
    oblique = 0.07 if rng.random() < 0.3 else 0.035  # some photos are taken well off-axis
    placed += rng.normal(0, oblique, size=(4, 2)) * meter.width * scale  # perspective
    matrix = homography(square, placed)
    row_photo = transform_points(matrix, row_face)
    margin = 0.02 * min(width, height)
    low = margin - row_photo.min(axis=0)
    high = np.array([width, height]) - margin - row_photo.max(axis=0)
    shift = np.where(high > low, rng.uniform(low, np.maximum(high, low + 1e-6)), (low + high) / 2)
    matrix = np.array([[1, 0, shift[0]], [0, 1, shift[1]], [0, 0, 1]]) @ matrix
    corners = as_corners(transform_points(matrix, row_face))

    photo = background(rng, (width, height)).convert("RGBA")
    placed_meter = warp(meter, matrix, (width, height), fill=(0, 0, 0, 0))
    if rng.random() < 0.6:  # a soft shadow under the meter
        alpha = placed_meter.getchannel("A").filter(ImageFilter.GaussianBlur(rng.uniform(2, 12)))
        offset = tuple(int(v) for v in rng.integers(-10, 11, size=2))
        shadow = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        shadow.putalpha(alpha.point(lambda v: int(v * 0.5)))
        photo.alpha_composite(shadow, offset)
    photo.alpha_composite(placed_meter)
    photo = _overlays(photo, placed_meter.getchannel("A"), rng)
    image = _finish(photo.convert("RGB"), rng, cell_h_photo / 32)
    return MeterSample.drawn(image, positions, corners, style, shown)


def render_window(
    positions: list[float],
    style: WindowStyle | None = None,
    rng: np.random.Generator | None = None,
    cell_height: int = 32,
    loose: float = 0.08,
) -> MeterSample:
    """An already-cropped counter window: the row in its frame, cut a little loosely.

    The crop reaches up to `loose` of the row's width past its ends and 3 * `loose` of its
    height past its top and bottom (so it shows some frame), turned by up to 3 degrees;
    `corners` say where the row lies in the crop.
    """
    rng = rng if rng is not None else np.random.default_rng()
    style = style or random_window_style(rng, len(positions))
    window, (x0, y0, x1, y1), shown = _window(positions, style, cell_height * 2, rng)
    row = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
    row_w, row_h = x1 - x0, y1 - y0
    pad = rng.uniform(0, loose, size=4) * np.array([row_w, 3 * row_h, row_w, 3 * row_h])
    angle = math.radians(rng.uniform(-3, 3))
    turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    centre = row.mean(axis=0)
    turned = (row - centre) @ turn.T + centre
    left, top = turned[:, 0].min() - pad[0], turned[:, 1].min() - pad[1]
    right, bottom = turned[:, 0].max() + pad[2], turned[:, 1].max() + pad[3]
    out_w = round((right - left) / 2)
    out_h = round((bottom - top) / 2)
    matrix = np.diag([0.5, 0.5, 1.0]) @ np.array([[1, 0, -left], [0, 1, -top], [0, 0, 1]])
    frame = np.eye(3)
    frame[:2, :2], frame[:2, 2] = turn, centre - turn @ centre
    matrix = matrix @ frame
    image = warp(window, matrix, (out_w, out_h), fill=style.frame_colour)
    corners = as_corners(transform_points(matrix, row))
    image = _finish(image, rng, cell_height / 32)
    return MeterSample.drawn(image, positions, corners, style, shown)
