"""Corrections in a style a shipped model misreads, as an export zip: the retrain commands' inputs
for the figures in the README and for the tests.

    .venv/bin/python -m bench.corrections digit 400 digit-corrections.zip
    .venv/bin/python -m bench.corrections meter 300 meter-corrections.zip
    .venv/bin/python -m bench.corrections captcha 300 captcha-corrections.zip
    make retrain-meter FEEDBACK=meter-corrections.zip

* digit: numbers of 1-3 digits as a seven-segment display shows them (the MNIST-trained `cnn`
  reads about two in five);
* meter: window crops of a meter with small drums, which show the digits above and below in every
  wheel (the shipped reader reads about half);
* captcha: captchas drawn by the same library in another font, DejaVu Serif Bold (the shipped
  `default` reads about a seventh).

Each is written through the gateway's own store and export code, as `GET /api/v1/{task}/feedback/
export` would serve it, with the label of the model it corrects.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import random
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from recognition_common.cli import run_main

MODELS = {"digit": "cnn", "captcha": "default", "meter": "default"}
SEGMENTS = {
    "0": "abcdef", "1": "bc", "2": "abged", "3": "abgcd", "4": "fgbc",
    "5": "afgcd", "6": "afgedc", "7": "abc", "8": "abcdefg", "9": "abcdfg",
}  # fmt: skip
CAPTCHA_CHARSET = "0123456789abcdefghijklmnopqrstuvwxyz"


def seven_segment(rng: random.Random) -> tuple[bytes, str]:
    """A number of 1-3 digits as a display shows it, dark on light, at a random size and place."""
    text = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 3)))
    image = Image.new("L", (280, 280), 255)
    draw = ImageDraw.Draw(image)
    height = rng.uniform(0.4, 0.7) * 280
    width = height * rng.uniform(0.45, 0.6)
    gap = width * rng.uniform(0.3, 0.6)
    bar = rng.uniform(0.1, 0.16) * height
    total = len(text) * width + (len(text) - 1) * gap
    x0, y0 = rng.uniform(14, max(15, 266 - total)), rng.uniform(28, 252 - height)
    for index, char in enumerate(text):
        x = x0 + index * (width + gap)
        boxes = {
            "a": (x, y0, x + width, y0 + bar),
            "g": (x, y0 + height / 2 - bar / 2, x + width, y0 + height / 2 + bar / 2),
            "d": (x, y0 + height - bar, x + width, y0 + height),
            "f": (x, y0, x + bar, y0 + height / 2),
            "b": (x + width - bar, y0, x + width, y0 + height / 2),
            "e": (x, y0 + height / 2, x + bar, y0 + height),
            "c": (x + width - bar, y0 + height / 2, x + width, y0 + height),
        }
        for segment in SEGMENTS[char]:
            draw.rectangle(boxes[segment], fill=0)
    return _encoded(image, "PNG"), text


def small_drums(rng: random.Random) -> tuple[bytes, str]:
    """A window crop of 5-6 wheels whose small drums show the digits above and below."""
    from meter_service.synth import random_window_style, render_window

    generator = np.random.default_rng(rng.randrange(2**32))
    wheels = int(generator.integers(5, 7))
    style = random_window_style(generator, wheels)
    style = dataclasses.replace(
        style, wheel_styles=tuple(dataclasses.replace(w, pitch=0.55) for w in style.wheel_styles)
    )
    digits = generator.integers(0, 10, size=wheels)
    positions = [float(d) + generator.uniform(-0.03, 0.03) for d in digits]
    sample = render_window(positions, style, rng=generator)
    return _encoded(sample.image, "JPEG"), "".join(str(int(d)) for d in digits)


def serif_captcha(rng: random.Random) -> tuple[bytes, str]:
    """A 4-character captcha drawn by the `captcha` library in DejaVu Serif Bold."""
    import matplotlib
    from captcha.image import ImageCaptcha

    random.seed(rng.randrange(2**32))  # the captcha library draws with the global generator
    text = "".join(rng.choice(CAPTCHA_CHARSET) for _ in range(4))
    font = str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSerif-Bold.ttf")
    return _encoded(ImageCaptcha(width=100, height=60, fonts=[font]).generate_image(text), "PNG"), text


STYLES = {"digit": seven_segment, "meter": small_drums, "captcha": serif_captcha}


def write_corrections(task: str, count: int, out: Path, seed: int = 2026) -> Path:
    """`count` corrections of `task` in its style, exported as the gateway exports them."""
    from gateway.config import DEFAULT_LABEL_RULES
    from gateway.feedback import DirectoryStore, write_export

    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as scratch:
        store = DirectoryStore(Path(scratch))
        for _ in range(count):
            image, text = STYLES[task](rng)
            store.add(task, image, "JPEG" if task == "meter" else "PNG", text, model=MODELS[task])
        buffer = io.BytesIO()
        rule = DEFAULT_LABEL_RULES.get(task)
        folders = bool(rule and rule.folder_per_label)
        write_export(store, store.corrections(task), buffer, folder_per_label=folders)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buffer.getvalue())
    return out


def _encoded(image: Image.Image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB" if image_format == "JPEG" else image.mode).save(buffer, image_format, quality=90)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.corrections", description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=sorted(STYLES))
    parser.add_argument("count", type=int)
    parser.add_argument("out", type=Path, help="the export zip to write")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("count must be at least 1")
    print(f"wrote {write_corrections(args.task, args.count, args.out, args.seed)}")


if __name__ == "__main__":
    run_main(main, "python -m bench.corrections")
