"""Pen-stroke digits: handwriting from outside MNIST, for tests, benchmarks and demos.

Each digit is a few polylines in a unit box (x right, y down), the way a person draws it with a
mouse. `draw_number` renders them at any size, position, stroke width and polarity, with optional
jitter, so a test can ask "is a thin 7 in the corner of a photo-sized image still a 7?".
"""

from __future__ import annotations

import math
import random

from PIL import Image, ImageDraw

Stroke = list[tuple[float, float]]


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, steps: int = 24) -> Stroke:
    """Points on an ellipse from `start` to `end` degrees (0 = right, 90 = down)."""
    return [
        (
            cx + rx * math.cos(math.radians(start + (end - start) * i / steps)),
            cy + ry * math.sin(math.radians(start + (end - start) * i / steps)),
        )
        for i in range(steps + 1)
    ]


STROKES: dict[str, list[Stroke]] = {
    "0": [_arc(0.5, 0.5, 0.3, 0.42, -90, 270)],
    "1": [[(0.35, 0.22), (0.55, 0.08), (0.55, 0.92)]],
    "2": [[*_arc(0.5, 0.32, 0.27, 0.22, 200, 370), (0.22, 0.9), (0.8, 0.9)]],
    "3": [_arc(0.48, 0.3, 0.25, 0.2, 200, 450) + _arc(0.48, 0.7, 0.28, 0.22, -90, 160)],
    "4": [[(0.62, 0.08), (0.18, 0.64), (0.85, 0.64)], [(0.64, 0.36), (0.64, 0.94)]],
    "5": [[(0.75, 0.1), (0.3, 0.1), (0.26, 0.46), *_arc(0.48, 0.66, 0.28, 0.24, -120, 160)]],
    "6": [[(0.7, 0.1), (0.45, 0.3), (0.27, 0.58), *_arc(0.5, 0.7, 0.24, 0.2, 180, 540)]],
    "7": [[(0.2, 0.1), (0.8, 0.1), (0.4, 0.92)]],
    "8": [_arc(0.5, 0.29, 0.21, 0.19, 90, 450), _arc(0.5, 0.7, 0.26, 0.22, -90, 270)],
    "9": [[*_arc(0.5, 0.32, 0.24, 0.21, 0, 360), (0.74, 0.32), (0.7, 0.6), (0.6, 0.92)]],
}


def draw_number(
    text: str,
    *,
    size: tuple[int, int] = (280, 280),
    box: tuple[float, float, float, float] = (0.15, 0.1, 0.85, 0.9),
    width: float = 18,
    dark_on_light: bool = True,
    jitter: float = 0.0,
    seed: int = 0,
    mode: str = "RGB",
) -> Image.Image:
    """Render `text` (digits) side by side inside `box` (fractions of the image) with a pen.

    `jitter` moves every point by up to that fraction of a digit's size, for distinct but
    readable samples.
    """
    rng = random.Random(seed)
    ink, paper = (0, 255) if dark_on_light else (255, 0)
    image = Image.new("L", size, paper)
    canvas = ImageDraw.Draw(image)
    left, top, right, bottom = (box[0] * size[0], box[1] * size[1], box[2] * size[0], box[3] * size[1])
    cell_w = (right - left) / max(1, len(text))
    digit_h = bottom - top
    digit_w = min(cell_w * 0.9, digit_h * 0.75)
    for index, char in enumerate(text):
        x0 = left + index * cell_w + (cell_w - digit_w) / 2
        for stroke in STROKES[char]:
            points = [
                (
                    x0 + (x + rng.uniform(-jitter, jitter)) * digit_w,
                    top + (y + rng.uniform(-jitter, jitter)) * digit_h,
                )
                for x, y in stroke
            ]
            canvas.line(points, fill=ink, width=max(1, round(width)), joint="curve")
            radius = width / 2
            for x, y in (points[0], points[-1]):  # round caps, like a canvas pen
                canvas.ellipse([x - radius, y - radius, x + radius, y + radius], fill=ink)
    return image.convert(mode) if mode != "L" else image
