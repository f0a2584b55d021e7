"""`demo`: write the sample images that `GET /v1/demo` serves, with their true readings.

    python -m meter_service.cli demo [--out meter-service/meter_service/demo]

A few generated photos picked by hand for variety (dark and light wheels, red decimal wheels, a
carry caught mid-roll, small and large windows), plus two already-cropped windows for
mode=window. Deterministic: the same files every run. They are examples for people trying the
service, not test data (the evaluate command's seed is another).
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image

from meter_service import odometer
from meter_service.config import MeterSettings
from meter_service.reading import ROLLING_MARGIN, snap
from meter_service.synth import MeterSample, generate_meter, render_window, sample_rng
from meter_service.training.evaluate import truth_text

SEED = 31337
PHOTOS = (3, 4, 6, 8, 9, 12)  # indices of generate_meter(sample_rng(SEED, i)) worth showing
WINDOWS = (2572.4, 14899.5)  # readings of the window crops (5 wheels)
MAX_BYTES = 60_000

README = """Sample water-meter images for the meter recognizer (made by `python -m meter_service.cli demo`).

Synthetic: a meter generator renders the counter's wheels, the dial face, the pose and the
camera's faults, so every true reading is exact. Upload a photo as it is (mode=auto picks
photo mode); the window crops are already cut to the row of wheels (mode=auto picks window
mode for images at least twice as wide as high).

"reading" is what a person reads off the counter, leading zeros kept (each wheel the digit that
fills most of its window); "value" is where the counter stands, the last wheel's roll as its
fraction (to the reader's resolution, a tenth) and red decimal wheels after the point.

"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        default=MeterSettings.model_fields["demo_dir"].default,
        help="default: %(default)s",
    )


def jpeg_under(image: Image.Image, limit: int = MAX_BYTES) -> bytes:
    """The image as JPEG at the best quality (95 down to 60) that stays under `limit` bytes."""
    data = b""
    for quality in range(95, 55, -5):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality, optimize=True)
        data = buffer.getvalue()
        if len(data) < limit:
            break
    return data


def describe(sample: MeterSample) -> str:
    positions = [snap(p) for p in sample.positions]
    decimals = int(sample.style.get("red_wheels") or 0)
    text = truth_text(sample.positions)
    value = round(odometer.reading_value(positions) / 10**decimals, 1 + decimals)
    rolling = any(ROLLING_MARGIN < p % 1 < 1 - ROLLING_MARGIN for p in positions[:-1])
    style = sample.style
    looks = (
        "light digits on dark wheels"
        if sum(style["ink"]) > sum(style["paper"])
        else "dark digits on light wheels"
    )
    if style.get("red_wheels"):
        looks += f", {style['red_wheels']} red decimal wheel(s) on the right"
    if rolling:
        looks += ", a carry caught mid-roll"
    return f"reading {text}  value {value:g}  ({sample.wheels} wheels; {looks})"


def write_demo(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    lines = [README]
    written = []
    for number, index in enumerate(PHOTOS, 1):
        sample = generate_meter(sample_rng(SEED, index), wheels=5)
        path = out / f"meter-{number}.jpg"
        path.write_bytes(jpeg_under(sample.image))
        lines.append(f"{path.name:12s} photo, {sample.image.width}x{sample.image.height}: {describe(sample)}")
        written.append(path)
    for number, value in enumerate(WINDOWS, 1):
        rng = np.random.default_rng([SEED, 1, number])
        sample = render_window(odometer.wheel_positions(value, 5), rng=rng, cell_height=40)
        path = out / f"window-{number}.png"
        sample.image.save(path, optimize=True)
        lines.append(
            f"{path.name:12s} window crop, {sample.image.width}x{sample.image.height}: {describe(sample)}"
        )
        written.append(path)
    (out / "README.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return written


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    for path in write_demo(args.out):
        print(f"{path}  {path.stat().st_size // 1024} KB")
    print(args.out / "README.txt")
