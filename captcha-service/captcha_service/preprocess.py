"""Turning any captcha image into the model's input: grey, at the card's width x height.

Training images pass through the same function as uploads, so what the model learned on and what
it is served cannot drift apart. Two ways to reach the card's size, named by the card's `resize`:

* `stretch` (cards without the field: the shipped models): resize to width x height, whatever the
  aspect ratio. Right when every image already has the model's size.
* `pad`: scale to fit inside width x height keeping the aspect ratio, centred, the rest filled with
  the image's own border grey. A model trained on a folder of real captchas uses this, so an
  upload of another size is read with its letters undistorted, and any image size can be served.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

RESIZE_MODES = ("stretch", "pad")


def _grey(image: Image.Image) -> Image.Image:
    """Grey, with transparency flattened onto white first."""
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("L")


def border_grey(pixels: np.ndarray) -> int:
    """The median grey of an image's outermost pixels: what padding it looks like its background."""
    edges = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    return int(np.median(edges))


def fitted_size(size: tuple[int, int], width: int, height: int) -> tuple[int, int]:
    """The largest (w, h) with `size`'s aspect ratio that fits in width x height."""
    scale = min(width / size[0], height / size[1])
    return max(1, min(width, round(size[0] * scale))), max(1, min(height, round(size[1] * scale)))


def to_pixels(image: Image.Image, width: int, height: int, resize: str = "stretch") -> np.ndarray:
    """uint8 (height, width) grey pixels, reached by `resize` (see the module docstring)."""
    grey = _grey(image)
    if grey.size == (width, height):
        return np.asarray(grey, dtype=np.uint8)
    if resize == "stretch":
        return np.asarray(grey.resize((width, height), Image.Resampling.BILINEAR), dtype=np.uint8)
    if resize != "pad":
        raise ValueError(f"unknown resize mode {resize!r}; one of {', '.join(RESIZE_MODES)}")
    fitted = fitted_size(grey.size, width, height)
    scaled = np.asarray(grey.resize(fitted, Image.Resampling.BILINEAR), dtype=np.uint8)
    canvas = np.full((height, width), border_grey(scaled), dtype=np.uint8)
    top, left = (height - fitted[1]) // 2, (width - fitted[0]) // 2
    canvas[top : top + fitted[1], left : left + fitted[0]] = scaled
    return canvas


def to_model_input(pixels: np.ndarray) -> np.ndarray:
    """(..., height, width) uint8 -> (..., height, width, 1) float32 in [0, 1]."""
    return (pixels.astype(np.float32) / 255.0)[..., np.newaxis]
