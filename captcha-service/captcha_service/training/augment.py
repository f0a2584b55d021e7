"""Augmentation made for real captchas: every training batch is a fresh distortion of the images.

A few hundred real captchas are too few for a CRNN to learn the glyphs rather than the images. Each
batch is redrawn, per image, with what real captcha generators vary themselves:

* geometry, in one resampling: a small rotation and shear (italic or upright), a scale and a shift
  small enough that no character leaves the image (crops that keep every character), and an
  elastic warp (a smooth random displacement field, the wobble of hand-made distortions);
* a Gaussian blur on some images, pixel noise on all, and brightness, contrast and gamma jitter
  (the grey version of colour jitter: the model sees grey pixels).

Numpy and scipy on the uint8 arrays, one vectorised `map_coordinates` per batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Augmentation:
    rotation_degrees: float = 4.0
    shear: float = 0.15  # x shift per row, as a fraction of the row's distance from the centre
    scale: tuple[float, float] = (0.92, 1.06)
    shift: tuple[float, float] = (0.03, 0.06)  # fraction of (width, height)
    elastic_pixels: float = 1.2  # displacement amplitude
    elastic_smoothness: float = 4.0  # half the spacing of the displacement field's grid, pixels
    blur_probability: float = 0.3
    blur_sigma: tuple[float, float] = (0.4, 1.0)
    noise: float = 0.04  # largest standard deviation of Gaussian pixel noise, of full scale
    contrast: tuple[float, float] = (0.7, 1.3)
    brightness: float = 0.1
    gamma: tuple[float, float] = (0.8, 1.25)

    def describe(self) -> str:
        return (
            f"per batch, per image: rotation +/-{self.rotation_degrees:g} deg, shear +/-{self.shear:g}, "
            f"scale {self.scale[0]:g}-{self.scale[1]:g}, shift +/-{self.shift[0]:.0%} x {self.shift[1]:.0%}, "
            f"elastic warp {self.elastic_pixels:g} px (grid {2 * self.elastic_smoothness:g} px), "
            f"blur sigma {self.blur_sigma[0]:g}-{self.blur_sigma[1]:g} on {self.blur_probability:.0%}, "
            f"noise up to {self.noise:g}, contrast {self.contrast[0]:g}-{self.contrast[1]:g}, "
            f"brightness +/-{self.brightness:g}, gamma {self.gamma[0]:g}-{self.gamma[1]:g}"
        )


def _upsample(grid: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear interpolation of (..., gh, gw) to (..., height, width), corners aligned."""

    def weights(size: int, points: int) -> tuple[np.ndarray, np.ndarray]:
        position = np.linspace(0, points - 1, size, dtype=np.float32)
        lower = np.minimum(position.astype(int), points - 2)
        return lower, position - lower

    rows, row_weight = weights(height, grid.shape[-2])
    grid = grid[..., rows, :] * (1 - row_weight[:, None]) + grid[..., rows + 1, :] * row_weight[:, None]
    columns, column_weight = weights(width, grid.shape[-1])
    return grid[..., columns] * (1 - column_weight) + grid[..., columns + 1] * column_weight


def _sample_coordinates(
    rng: np.random.Generator, spec: Augmentation, count: int, height: int, width: int
) -> np.ndarray:
    """(3, count, height, width) source coordinates: where each output pixel reads from."""
    ys, xs = np.meshgrid(
        np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32), indexing="ij"
    )
    cy, cx = (height - 1) / 2, (width - 1) / 2
    angle = np.deg2rad(rng.uniform(-spec.rotation_degrees, spec.rotation_degrees, count)).astype(np.float32)
    shear = rng.uniform(-spec.shear, spec.shear, count).astype(np.float32)
    scale = rng.uniform(*spec.scale, count).astype(np.float32)
    shift_x = rng.uniform(-spec.shift[0], spec.shift[0], count).astype(np.float32) * width
    shift_y = rng.uniform(-spec.shift[1], spec.shift[1], count).astype(np.float32) * height
    dy, dx = ys[None] - cy, xs[None] - cx  # (1, h, w), relative to the centre
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    inverse = 1 / scale[:, None, None]
    # Output pixel -> source pixel: undo the shift, the scale, the rotation, then the shear.
    ry = (dy - shift_y[:, None, None]) * inverse
    rx = (dx - shift_x[:, None, None]) * inverse
    source_y = cos * ry - sin * rx
    source_x = sin * ry + cos * rx
    source_x = source_x + shear[:, None, None] * source_y
    if spec.elastic_pixels > 0:
        # Random displacements on a coarse grid (one point every `elastic_smoothness` * 2 pixels),
        # interpolated up: a smooth field at a fraction of the cost of Gaussian-filtering a
        # full-size one (which took more time than the training step it fed).
        step = max(2.0, 2 * spec.elastic_smoothness)
        coarse = (2, count, int(height / step) + 2, int(width / step) + 2)
        field = _upsample(rng.standard_normal(coarse).astype(np.float32), height, width)
        field *= spec.elastic_pixels
        source_y = source_y + field[0]
        source_x = source_x + field[1]
    batch_index = np.broadcast_to(np.arange(count, dtype=np.float32)[:, None, None], (count, height, width))
    return np.stack([batch_index, source_y + cy, source_x + cx])


def augment_batch(pixels: np.ndarray, rng: np.random.Generator, spec: Augmentation) -> np.ndarray:
    """(n, height, width) uint8 -> (n, height, width) float32 in [0, 1], each image redrawn."""
    count, height, width = pixels.shape
    images = pixels.astype(np.float32) / 255.0
    coordinates = _sample_coordinates(rng, spec, count, height, width)
    images = ndimage.map_coordinates(images, coordinates, order=1, mode="nearest")
    for index in np.flatnonzero(rng.random(count) < spec.blur_probability):
        images[index] = ndimage.gaussian_filter(images[index], rng.uniform(*spec.blur_sigma))
    contrast = np.asarray(rng.uniform(*spec.contrast, count)).astype(np.float32)[:, None, None]
    brightness = np.asarray(rng.uniform(-spec.brightness, spec.brightness, count)).astype(np.float32)[
        :, None, None
    ]
    mean = images.mean(axis=(1, 2), keepdims=True)
    images = (images - mean) * contrast + mean + brightness
    noise = np.asarray(rng.uniform(0, spec.noise, count)).astype(np.float32)[:, None, None]
    images = images + noise * rng.standard_normal(images.shape).astype(np.float32)
    images = np.clip(images, 0.0, 1.0)
    gamma = np.asarray(rng.uniform(*spec.gamma, count)).astype(np.float32)[:, None, None]
    return np.power(images, gamma)
