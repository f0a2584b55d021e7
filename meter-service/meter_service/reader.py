"""Reading one digit wheel: the reader's input layout and how its 100 tenths become a position.

The reader is a classifier over 100 classes "0.0".."9.9" (where the wheel stands, in tenths). The
classes are circular (9.9 is next to 0.0) and neighbours look almost alike, so its probability
mass for a clean 3 spreads over 2.9, 3.0 and 3.1, and for a wheel caught between 9 and 0 over
9.8..0.1. Taking the argmax alone would throw that away; `decode_wheel` takes the weighted mean
of the mass around the argmax instead, on the circle, so a split between 9.9 and 0.0 reads 9.95
rather than 5.0. Training and serving both use this module, so the model sees exactly what the
service feeds it. No TensorFlow here: numpy and Pillow only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

CROP_WIDTH = 20
CROP_HEIGHT = 32
INPUT_SHAPE = (CROP_HEIGHT, CROP_WIDTH, 3)  # one crop, as the model takes it
NUM_CLASSES = 100  # tenths of a turn
POSITION_WINDOW = 3  # classes each side of the argmax that the position averages over
CONFIDENCE_WINDOW = 5  # classes each side of the position counted as agreeing with it (+/-0.5)


def classes_tenths() -> list[str]:
    """The reader's classes in output order: "0.0", "0.1", ..., "9.9"."""
    return [f"{index // 10}.{index % 10}" for index in range(NUM_CLASSES)]


def class_of(position: float) -> int:
    """The class index nearest to a position (3.46 -> 35), wrapping 9.96 to 0."""
    return math.floor(position * 10 + 0.5) % NUM_CLASSES


def reader_input(crops: Sequence[Image.Image] | np.ndarray) -> np.ndarray:
    """Wheel crops (PIL images of any size and mode, or uint8 (N, H, W, 3)) -> float32 (N, 32, 20, 3).

    Crops that are not 20x32 are resized bilinearly (the real data's crops are 20 wide, 32 high);
    values are scaled to [0, 1], the only normalisation the model expects.
    """
    if isinstance(crops, np.ndarray):
        array = crops
        if array.ndim == 3:  # one crop
            array = array[np.newaxis]
        if array.ndim != 4 or array.shape[-1] != 3:
            raise ValueError(f"expected (N, H, W, 3) crops, got {crops.shape}")
        if array.shape[1:3] != (CROP_HEIGHT, CROP_WIDTH):
            array = np.stack([_pixels(Image.fromarray(np.asarray(crop, dtype=np.uint8))) for crop in array])
        elif array.dtype != np.uint8:
            array = np.clip(array, 0, 255).astype(np.uint8)
        return array.astype(np.float32) / 255.0
    if not crops:
        return np.zeros((0, *INPUT_SHAPE), dtype=np.float32)
    return np.stack([_pixels(crop) for crop in crops]).astype(np.float32) / 255.0


def _pixels(crop: Image.Image) -> np.ndarray:
    """uint8 (32, 20, 3) of one crop."""
    crop = crop.convert("RGB")
    if crop.size != (CROP_WIDTH, CROP_HEIGHT):
        crop = crop.resize((CROP_WIDTH, CROP_HEIGHT), Image.Resampling.BILINEAR)
    return np.asarray(crop, dtype=np.uint8)


@dataclass(frozen=True)
class WheelReading:
    """Where one wheel stands and how sure the reader is.

    `position` is in [0, 10): 3.0 a clean 3, 3.5 half-way from 3 to 4, 9.95 nearly back at 0.
    `confidence` is the probability mass within +/-0.5 of it (the reader's belief that the wheel
    shows this digit or the roll into its neighbour, not some other digit); `probabilities` are
    the reader's 100 outputs, kept for callers that want the whole distribution.
    """

    position: float
    confidence: float
    probabilities: np.ndarray

    @property
    def digit(self) -> int:
        """The nearest whole digit (3.6 -> 4, 9.7 -> 0); the odometer rule may overrule it."""
        return math.floor(self.position + 0.5) % 10

    @property
    def spread(self) -> float:
        """Circular standard deviation of the whole distribution, in wheel units (0 = certain)."""
        angles = np.arange(NUM_CLASSES) * (2 * math.pi / NUM_CLASSES)
        p = self.probabilities / max(float(self.probabilities.sum()), 1e-12)
        length = math.hypot(float(p @ np.cos(angles)), float(p @ np.sin(angles)))
        return math.sqrt(-2 * math.log(max(length, 1e-12))) * 10 / (2 * math.pi)


def decode_wheel(probabilities: np.ndarray | Sequence[float]) -> WheelReading:
    """100 class probabilities -> WheelReading.

    The position is the mean of the class offsets within POSITION_WINDOW of the argmax, weighted
    by their probabilities, taken modulo 100 classes: a window straddling 9.9 and 0.0 averages
    across the seam (9.9 and 0.0 at equal mass -> 9.95). The window keeps a second, distant peak
    (a confusable digit) from dragging the position half-way between two digits.
    """
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if p.shape != (NUM_CLASSES,):
        raise ValueError(f"expected {NUM_CLASSES} probabilities, got {p.shape}")
    top = int(np.argmax(p))
    offsets = np.arange(-POSITION_WINDOW, POSITION_WINDOW + 1)
    weights = p[(top + offsets) % NUM_CLASSES]
    shift = float(weights @ offsets / weights.sum()) if weights.sum() > 0 else 0.0
    position = ((top + shift) % NUM_CLASSES) / 10.0
    if position >= 10.0:  # float rounding at the seam
        position = 0.0
    near = (class_of(position) + np.arange(-CONFIDENCE_WINDOW, CONFIDENCE_WINDOW + 1)) % NUM_CLASSES
    confidence = float(min(max(p[near].sum(), 0.0), 1.0))
    return WheelReading(position=position, confidence=confidence, probabilities=p.astype(np.float32))


def decode_wheels(probabilities: np.ndarray) -> list[WheelReading]:
    """A batch (N, 100) of reader outputs -> one WheelReading per row."""
    return [decode_wheel(row) for row in np.asarray(probabilities)]


def circular_distance(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Distance between wheel positions around the 10-digit circle (9.9 and 0.1 are 0.2 apart)."""
    difference = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) % 10.0
    return np.minimum(difference, 10.0 - difference)
