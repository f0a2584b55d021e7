"""Digits drawn like MNIST's, for tests that need no data set."""

from __future__ import annotations

import numpy as np
from PIL import Image

from digit_service import styles
from digit_service.synth import draw_number


def mnist_like(digit: str, seed: int) -> np.ndarray:
    """A pen-drawn digit laid out like MNIST: 28x28, white on black, about 20 px tall."""
    image = draw_number(digit, size=(28, 28), box=(0.2, 0.15, 0.8, 0.85), width=2.4, jitter=0.05, seed=seed)
    return 255 - np.asarray(image.convert("L"))


def touching_pair(text: str) -> Image.Image:
    """Two MNIST-like digits whose strokes run into each other (`styles.touching`), the same
    image for the same two digits."""
    first, second = text
    return styles.touching([mnist_like(first, 1), mnist_like(second, 2)], np.random.default_rng(int(text)))
