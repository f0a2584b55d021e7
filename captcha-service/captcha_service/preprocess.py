"""Turning any captcha image into the model's input: grey, resized to the card's width x height.

Training images pass through the same function as uploads, so what the model learned on and what
it is served cannot drift apart.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# Bumped whenever the pixels handed to the model change for the same upload.
PREPROCESS_VERSION = "captcha-1"


def to_pixels(image: Image.Image, width: int, height: int) -> np.ndarray:
    """uint8 (height, width) grey pixels; transparency is flattened onto white first."""
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    grey = image.convert("L")
    if grey.size != (width, height):
        grey = grey.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(grey, dtype=np.uint8)


def to_model_input(pixels: np.ndarray) -> np.ndarray:
    """(..., height, width) uint8 -> (..., height, width, 1) float32 in [0, 1]."""
    return (pixels.astype(np.float32) / 255.0)[..., np.newaxis]
