"""Rendering one counter wheel as seen through its window: the cell the reader learns from.

A wheel's position (see `odometer`) is a float in [0, 10). Digits are printed round the drum in
order and the drum turns so that they scroll UP as it advances, as on real meters: at 3.5 the
top of the cell shows the lower half of the 3 and the bottom shows the upper half of the 4
(checked against the real 20x32 crops). The drum is a cylinder, so digits shrink vertically and
darken towards the top and bottom edges; this is rendered by mapping each output row to its arc
length on the drum.

Fonts are TrueType files found at run time inside the environment (matplotlib's DejaVu family,
the `captcha` package's bundled fonts); nothing outside the venv is read. Beside them, digits can
be drawn as the seven segments of a counter's LCD (`SEVEN_SEGMENT`), a look the real wheel crops
have and no font here has: without it the reader took a segment 9 for a 5 and a 0 for a 7.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

DIGITS = "0123456789"
SUPERSAMPLE = 4  # render this many times larger, then shrink: smooth edges at any cell size
WOBBLE = 0.015  # per-render jitter of a digit's place, of the cell (sd): no two renders alike

_MATPLOTLIB_FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "cmss10.ttf",
)


SEVEN_SEGMENT = "seven-segment"  # a WheelStyle.font that is no file: digits drawn as segments
# Lit segments per digit (a top, b top right, c bottom right, d bottom, e bottom left, f top left,
# g middle); counters differ in whether 6 and 9 have their tails.
_SEGMENTS = dict(
    zip(
        DIGITS,
        ("abcdef", "bc", "abdeg", "abcdg", "bcfg", "acdfg", "acdefg", "abc", "abcdefg", "abcdfg"),
        strict=True,
    )
)
_SHORT_TAILS = {"6": "cdefg", "9": "abcfg"}
_SEGMENT_WIDTH = 0.56  # a segment digit's box width / its height


@functools.cache
def font_paths() -> tuple[str, ...]:
    """TrueType fonts with all ten digits available in this environment, in a stable order."""
    paths: list[Path] = []
    try:
        import matplotlib

        folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        paths += [folder / name for name in _MATPLOTLIB_FONTS if (folder / name).is_file()]
    except ImportError:  # serving images may lack matplotlib; the captcha fonts or PIL's remain
        pass
    try:
        import captcha

        paths += sorted((Path(captcha.__file__).parent / "data").glob("*.ttf"))
    except ImportError:
        pass
    return tuple(str(path) for path in paths if _digit_metrics(str(path))[0] > 0.3)  # has digits


@functools.lru_cache(maxsize=256)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if not path:
        return ImageFont.load_default(size)
    return ImageFont.truetype(path, size)


@functools.lru_cache(maxsize=64)
def _digit_metrics(path: str) -> tuple[float, float, float]:
    """(ink height, ink top above the baseline, widest digit) per point of font size."""
    if path == SEVEN_SEGMENT:  # a segment digit `size` high, slanted by up to a fifth of it
        return 1.0, 1.0, _SEGMENT_WIDTH + 0.2
    font = _font(path, 100)
    _, top, _, bottom = font.getbbox(DIGITS, anchor="ls")
    widest = max(font.getbbox(d, anchor="ls")[2] - font.getbbox(d, anchor="ls")[0] for d in DIGITS)
    return (bottom - top) / 100, -top / 100, widest / 100


@dataclass(frozen=True)
class WheelStyle:
    """How one wheel looks. Fractions are of the cell's height (or width, where said)."""

    font: str  # TrueType path; "" = PIL's built-in font
    ink: tuple[int, int, int]  # digit colour
    paper: tuple[int, int, int]  # drum colour
    digit_height: float = 0.62  # ink height of a digit / cell height
    digit_width: float = 0.7  # widest digit / cell width (digits are squeezed to fit)
    pitch: float = 0.85  # distance between consecutive digits on the drum / cell height
    curvature: float = 0.6  # half the visible arc of the drum, radians (0 = flat)
    shading: float = 0.35  # how much darker the top and bottom edges are (0..1)
    ticks: bool = False  # graduation marks along the right edge (common on the last wheel)
    offset_x: float = 0.0  # digit centre shift / cell width
    offset_y: float = 0.0  # digit centre shift / cell height (wheel not quite centred)
    # SEVEN_SEGMENT only: stroke / digit height, rightward lean / digit height, how visible the
    # unlit segments are (0..1 of the way from paper to ink), 6 and 9 without their tails.
    segment_weight: float = 0.14
    slant: float = 0.0
    ghost: float = 0.0
    short_tails: bool = False


def _colour(rng: np.random.Generator, low: int, high: int) -> tuple[int, int, int]:
    base = rng.integers(low, high + 1)
    tint = rng.integers(-12, 13, size=3)
    return tuple(int(v) for v in np.clip(base + tint, 0, 255))  # type: ignore[return-value]


_DRUM_TINTS = ((236, 226, 196), (214, 222, 200), (196, 206, 220), (222, 214, 190))


def random_style(rng: np.random.Generator, scheme: str | None = None, segments: float = 0.0) -> WheelStyle:
    """A random plausible wheel; `scheme` is "dark" (white on black), "light" (black on white),
    "red" (a decimal wheel: white on red or red on white), or None for dark or light at random.

    `segments` is the chance that its digits are drawn as SEVEN_SEGMENT instead of a font. It is
    drawn for only when above 0, so that every caller without it keeps its random stream (the
    evaluation's photos, the tests' and the demo's images stay what they were).
    """
    fonts = font_paths() or ("",)
    scheme = scheme or ("dark" if rng.random() < 0.55 else "light")
    dark, light = _colour(rng, 10, 70), _colour(rng, 175, 250)
    if scheme == "dark":
        ink, paper = light, dark
    elif scheme == "light":
        ink, paper = dark, light
        if rng.random() < 0.4:  # drums are often not white: cream, greenish, grey-blue
            tint = _DRUM_TINTS[int(rng.integers(len(_DRUM_TINTS)))]
            paper = tuple(int(np.clip(c + rng.integers(-12, 13), 0, 255)) for c in tint)  # type: ignore[assignment]
    elif scheme == "red":
        red = (int(rng.integers(150, 230)), int(rng.integers(10, 60)), int(rng.integers(20, 70)))
        ink, paper = (light, red) if rng.random() < 0.6 else (red, light)
    else:
        raise ValueError(f"unknown wheel scheme {scheme!r}")
    digit_height = float(rng.uniform(0.5, 0.75))
    style = WheelStyle(
        font=fonts[int(rng.integers(len(fonts)))],
        ink=ink,
        paper=paper,
        digit_height=digit_height,
        digit_width=float(rng.uniform(0.55, 0.85)),
        pitch=digit_height + float(rng.uniform(0.12, 0.35)),  # the gap between digits
        curvature=float(rng.uniform(0.2, 0.9)),
        shading=float(rng.uniform(0.05, 0.45)),
        ticks=bool(rng.random() < 0.2),
        offset_x=float(rng.uniform(-0.05, 0.05)),
        offset_y=float(rng.uniform(-0.05, 0.05)),
    )
    if segments <= 0 or rng.random() >= segments:
        return style
    return replace(
        style,
        font=SEVEN_SEGMENT,
        segment_weight=float(rng.uniform(0.08, 0.16)),
        slant=float(rng.choice([0.0, rng.uniform(0.05, 0.2)])),
        ghost=float(rng.choice([0.0, rng.uniform(0.05, 0.25)])),
        short_tails=bool(rng.random() < 0.3),
    )


def red_variant(style: WheelStyle, rng: np.random.Generator) -> WheelStyle:
    """`style` recoloured as a red decimal wheel, same font and geometry (same counter)."""
    red = random_style(rng, "red")
    return replace(style, ink=red.ink, paper=red.paper)


def wobbled(style: WheelStyle, rng: np.random.Generator) -> WheelStyle:
    """`style` with the small per-render wobble of a real drum: its digits a fraction of a
    pixel off where the style puts them (standard deviation WOBBLE of the cell)."""
    return replace(
        style,
        offset_x=style.offset_x + float(rng.normal(0, WOBBLE)),
        offset_y=style.offset_y + float(rng.normal(0, WOBBLE)),
    )


def shown_position(position: float, style: WheelStyle) -> float:
    """Where a wheel at `position` appears to stand in its cell when drawn in `style`.

    A drum mounted `offset_y` of the cell low shows each digit that much lower, which looks
    exactly like a wheel `offset_y / pitch` of a digit less far round: a wheel at 2.92 drawn
    0.05 of the cell low shows what a centred wheel at 2.86 shows. A reader can only see this
    shown position; the counter's common offset is taken off later, across the row.
    """
    return (float(position) - style.offset_y / style.pitch) % 10.0


def _strip(position: float, style: WheelStyle, width: int, height: int, cell_h: int) -> Image.Image:
    """The drum unrolled flat around `position`: `height` rows of arc centred on the window,
    scaled so that `cell_h` rows are one cell height."""
    ink_height, _, widest = _digit_metrics(style.font)
    size = max(4, round(style.digit_height * cell_h / max(ink_height, 1e-3)))
    font = None if style.font == SEVEN_SEGMENT else _font(style.font, size)
    # Squeeze horizontally by drawing on a canvas whose width makes the widest digit fit.
    natural = widest * size
    squeeze = min(1.0, style.digit_width * width / max(natural, 1.0))
    canvas_w = max(1, round(width / squeeze))
    strip = Image.new("RGB", (canvas_w, height), style.paper)
    draw = ImageDraw.Draw(strip)
    pitch = style.pitch * cell_h
    centre_y = height / 2 + style.offset_y * cell_h
    centre_x = canvas_w / 2 + style.offset_x * canvas_w
    base = math.floor(position)
    fraction = position - base
    reach = math.ceil(height / 2 / max(pitch, 1.0)) + 1
    for step in range(-reach, reach + 1):
        digit = DIGITS[(base + step) % 10]
        y = centre_y + (step - fraction) * pitch  # later digits sit lower and scroll up
        if font is None:
            _draw_segments(draw, digit, centre_x, y, size, style)
        else:
            baseline = y + ink_height * size / 2
            draw.text((centre_x, baseline), digit, fill=style.ink, font=font, anchor="ms")
        if style.ticks:
            for tick in range(10):
                ty = y + (tick / 10) * pitch
                length = 0.22 if tick in (0, 5) else 0.12
                x1 = canvas_w - 1
                draw.line([(x1 - length * canvas_w, ty), (x1, ty)], fill=style.ink, width=max(1, size // 18))
    if squeeze < 1.0:
        strip = strip.resize((width, height), Image.Resampling.LANCZOS)
    return strip


def _draw_segments(
    draw: ImageDraw.ImageDraw, digit: str, centre_x: float, centre_y: float, height: float, style: WheelStyle
) -> None:
    """One seven-segment `digit`, `height` tall, centred at (centre_x, centre_y): the unlit
    segments faintly (`style.ghost`), the lit ones in ink, each a hexagon with bevelled ends."""
    width = _SEGMENT_WIDTH * height
    half = style.segment_weight * height / 2
    gap = half * 0.25
    left, top = centre_x - width / 2, centre_y - height / 2

    def point(x: float, y: float) -> tuple[float, float]:  # leaning right as it rises
        return left + x + style.slant * (height / 2 - y), top + y

    def bar(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
        horizontal = y0 == y1
        start, end = (x0, x1) if horizontal else (y0, y1)
        start, end = start + gap, end - gap
        # The hexagon as (along the bar, across it), pointed at both ends.
        ring = [
            (start, 0),
            (start + half, -half),
            (end - half, -half),
            (end, 0),
            (end - half, half),
            (start + half, half),
        ]
        if horizontal:
            return [point(along, y0 + across) for along, across in ring]
        return [point(x0 - across, along) for along, across in ring]

    x_left, x_right, y_top, y_mid, y_bottom = half, width - half, half, height / 2, height - half
    bars = {
        "a": bar(x_left, y_top, x_right, y_top),
        "b": bar(x_right, y_top, x_right, y_mid),
        "c": bar(x_right, y_mid, x_right, y_bottom),
        "d": bar(x_left, y_bottom, x_right, y_bottom),
        "e": bar(x_left, y_mid, x_left, y_bottom),
        "f": bar(x_left, y_top, x_left, y_mid),
        "g": bar(x_left, y_mid, x_right, y_mid),
    }
    lit = (_SHORT_TAILS.get(digit) if style.short_tails else None) or _SEGMENTS[digit]
    if style.ghost > 0:
        faint = tuple(round(p + style.ghost * (i - p)) for i, p in zip(style.ink, style.paper, strict=True))
        for name in bars.keys() - set(lit):
            draw.polygon(bars[name], fill=faint)
    for name in lit:
        draw.polygon(bars[name], fill=style.ink)


def render_wheel(
    position: float,
    style: WheelStyle,
    width: int,
    height: int,
    rng: np.random.Generator | None = None,
) -> Image.Image:
    """One wheel cell, `width` x `height` RGB, showing the drum at `position` (0 <= p < 10).

    `rng`, when given, adds the small per-render wobble of a real drum (`wobbled`) so that equal
    positions don't render pixel-identical; wobble the style first instead to know where the
    wheel then appears (`shown_position`).
    """
    position = float(position) % 10.0
    if rng is not None:
        style = wobbled(style, rng)
    big_w, big_h = width * SUPERSAMPLE, height * SUPERSAMPLE
    # Output row y (-1..1 across the window) sees the drum at angle asin(y * sin(arc)); unrolled,
    # that is an arc length R * angle with R chosen so the centre row is 1:1.
    arc = max(style.curvature, 1e-3)
    radius = (big_h / 2) / math.sin(arc)
    strip_h = max(big_h, math.ceil(2 * radius * arc) + 2)
    strip = np.asarray(_strip(position, style, big_w, strip_h, big_h), dtype=np.float32)
    rows = (np.arange(big_h) + 0.5 - big_h / 2) / (big_h / 2)  # -1..1
    angles = np.arcsin(np.clip(rows * math.sin(arc), -1, 1))
    source = np.clip(strip_h / 2 + radius * angles, 0, strip_h - 1)
    low = np.floor(source).astype(int)
    high = np.minimum(low + 1, strip_h - 1)
    weight = (source - low)[:, None, None]
    drum = strip[low] * (1 - weight) + strip[high] * weight
    light = 1.0 - style.shading * (1.0 - np.cos(angles) ** 2) / max(1.0 - math.cos(arc) ** 2, 1e-6)
    drum = drum * light[:, None, None]
    image = Image.fromarray(np.clip(drum, 0, 255).astype(np.uint8))
    return image.resize((width, height), Image.Resampling.LANCZOS)
