"""Captchas in styles nothing here was trained on, drawn with PIL: stand-ins for a user's real set.

The shipped models learned `captcha.image.ImageCaptcha`'s look. A user brings another site's
captchas; these styles imitate kinds seen in the wild, to measure training on a small real-looking
folder and to test it:

    blue-heights   160x50, 6 of 0-9a-z, blue glyphs at varying heights, speckle noise
    ruled          200x80, 6 of 0-9a-z, green italic glyphs, a strike-through curve, ruled lines
    outline        198x41, 6 of 2-9 A-Z without I/L/O/U, outlined letters with a 3-D shadow
    stamp          123x37, 4-5 of 0-9, dark serif digits on a mottled background (odd size)

    python -m captcha_service.cli generate --style ruled -n 1400 --out data/ruled --seed 1

Files are `<label>_<index>.png`, the layout `train --data` reads.
"""

from __future__ import annotations

import math
import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import captcha
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path(captcha.__file__).parent / "data")
NO_ILOU = "".join(c for c in string.digits[2:] + string.ascii_uppercase if c not in "ILOU")


def _font(names: tuple[str, ...], size: int) -> ImageFont.FreeTypeFont:
    """The first of `names` that exists (system DejaVu, else the captcha package's Droid Sans Mono)."""
    for name in (*names, "DroidSansMono.ttf"):
        for folder in FONT_DIRS:
            if (folder / name).is_file():
                return ImageFont.truetype(str(folder / name), size)
    raise FileNotFoundError(f"none of the fonts {names} nor DroidSansMono.ttf")


def _glyph(
    char: str,
    font: ImageFont.FreeTypeFont,
    fill: tuple[int, ...],
    stroke: int = 0,
    stroke_fill: tuple[int, ...] | None = None,
) -> Image.Image:
    """One character on a transparent tile just big enough for it."""
    box = font.getbbox(char, stroke_width=stroke)
    tile = Image.new("RGBA", (int(box[2] - box[0]) + 4, int(box[3] - box[1]) + 4), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text(
        (2 - box[0], 2 - box[1]), char, font=font, fill=fill, stroke_width=stroke, stroke_fill=stroke_fill
    )
    return tile


def _place(canvas: Image.Image, glyphs: list[Image.Image], rng: random.Random, jitter_y: float) -> None:
    """Glyphs left to right, spread over the width, each at a random height within `jitter_y`."""
    total = sum(g.width for g in glyphs)
    gap = max(0, (canvas.width - total) // (len(glyphs) + 1))
    x = gap + rng.randint(-gap // 2, gap // 2) if gap else 0
    for glyph in glyphs:
        free = max(0, canvas.height - glyph.height)
        centre = free / 2
        y = int(max(0, min(free, centre + rng.uniform(-jitter_y, jitter_y) * free)))
        canvas.alpha_composite(glyph, (max(0, min(canvas.width - glyph.width, x)), y))
        x += glyph.width + gap + rng.randint(-max(1, gap // 3), max(1, gap // 3))


def blue_heights(text: str, rng: random.Random) -> Image.Image:
    canvas = Image.new("RGBA", (160, 50), (245, 245, 250, 255))
    font = _font(("DejaVuSans-Bold.ttf",), 26)
    glyphs = []
    for char in text:
        blue = (rng.randint(10, 60), rng.randint(40, 110), rng.randint(160, 230), 255)
        glyphs.append(
            _glyph(char, font, blue).rotate(rng.uniform(-12, 12), Image.Resampling.BICUBIC, expand=True)
        )
    _place(canvas, glyphs, rng, jitter_y=0.9)
    draw = ImageDraw.Draw(canvas)
    for _ in range(120):
        x, y = rng.randrange(160), rng.randrange(50)
        draw.point((x, y), fill=(rng.randint(90, 200),) * 3 + (255,))
    return canvas.convert("RGB")


def ruled(text: str, rng: random.Random) -> Image.Image:
    canvas = Image.new("RGBA", (200, 80), (250, 252, 245, 255))
    draw = ImageDraw.Draw(canvas)
    for y in range(rng.randint(2, 8), 80, 8):  # ruled background
        draw.line((0, y, 200, y), fill=(170, 200, 170, 255), width=1)
    font = _font(("DejaVuSerif-Italic.ttf", "DejaVuSans-Oblique.ttf"), 34)
    green = (rng.randint(0, 40), rng.randint(100, 150), rng.randint(0, 50), 255)
    glyphs = [_glyph(char, font, green) for char in text]
    _place(canvas, glyphs, rng, jitter_y=0.3)
    draw = ImageDraw.Draw(canvas)
    amplitude, phase, y0 = rng.uniform(3, 8), rng.uniform(0, 6.3), rng.uniform(32, 48)
    points = [(x, y0 + amplitude * math.sin(x / 25 + phase)) for x in range(0, 201, 4)]
    draw.line(points, fill=green, width=3)  # the strike-through
    return canvas.convert("RGB")


def outline(text: str, rng: random.Random) -> Image.Image:
    canvas = Image.new(
        "RGBA", (198, 41), (rng.randint(225, 255), rng.randint(225, 255), rng.randint(200, 240), 255)
    )
    font = _font(("DejaVuSans-Bold.ttf",), 28)
    glyphs = []
    for char in text:
        shadow = _glyph(char, font, (90, 90, 90, 255))
        face = _glyph(char, font, (255, 255, 255, 255), stroke=1, stroke_fill=(20, 20, 20, 255))
        tile = Image.new("RGBA", (face.width + 3, face.height + 3), (0, 0, 0, 0))
        tile.alpha_composite(shadow, (3, 3))
        tile.alpha_composite(face, (0, 0))
        glyphs.append(tile.rotate(rng.uniform(-8, 8), Image.Resampling.BICUBIC, expand=True))
    _place(canvas, glyphs, rng, jitter_y=0.5)
    return canvas.convert("RGB")


def stamp(text: str, rng: random.Random) -> Image.Image:
    canvas = Image.new("RGBA", (123, 37), (200, 190, 170, 255))
    draw = ImageDraw.Draw(canvas)
    for _ in range(60):
        x, y, r = rng.randrange(123), rng.randrange(37), rng.randint(2, 6)
        tone = rng.randint(160, 230)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(tone, tone - 10, tone - 30, 255))
    canvas = canvas.filter(ImageFilter.GaussianBlur(1.5))
    font = _font(("DejaVuSerif-Bold.ttf",), 24)
    glyphs = [_glyph(char, font, (rng.randint(20, 70),) * 3 + (255,)) for char in text]
    _place(canvas, glyphs, rng, jitter_y=0.6)
    return canvas.convert("RGB")


@dataclass(frozen=True)
class Style:
    draw: Callable[[str, random.Random], Image.Image]
    charset: str
    lengths: tuple[int, int]


STYLES: dict[str, Style] = {
    "blue-heights": Style(blue_heights, string.digits + string.ascii_lowercase, (6, 6)),
    "ruled": Style(ruled, string.digits + string.ascii_lowercase, (6, 6)),
    "outline": Style(outline, NO_ILOU, (6, 6)),
    "stamp": Style(stamp, string.digits, (4, 5)),
}


def write_style(style: str, count: int, out: Path, seed: int) -> list[Path]:
    """`count` labelled images of `style` in `out`, reproducible from `seed`."""
    spec = STYLES[style]
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        text = "".join(rng.choice(spec.charset) for _ in range(rng.randint(*spec.lengths)))
        path = out / f"{text}_{seed}-{index}.png"
        spec.draw(text, rng).save(path)
        paths.append(path)
    return paths
