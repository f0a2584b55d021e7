"""Training data: generated captchas or a folder of labelled images, as tf.data pipelines.

A folder is either flat (`<label>_<id>.png` files; the last 10% validate, after a seeded
shuffle) or the output of `verify-split` (`train/` and `test/` sub-folders; `test/` validates).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers
from PIL import Image

from captcha_service.ctc import encode_labels
from captcha_service.labels import label_of, list_images
from captcha_service.preprocess import to_pixels


@dataclass
class LabelledSet:
    labels: list[str]
    pixels: np.ndarray  # (n, height, width) uint8

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray) -> LabelledSet:
        return LabelledSet([self.labels[i] for i in indices], self.pixels[indices])


def load_folder(folder: Path, width: int, height: int, progress: bool = True) -> LabelledSet:
    """Every image directly in `folder`, resized to width x height, labelled by its file name."""
    from tqdm import tqdm

    paths = list_images(folder)
    if not paths:
        raise SystemExit(f"no images in {folder}")
    pixels = np.empty((len(paths), height, width), dtype=np.uint8)
    for row, path in enumerate(tqdm(paths, desc=f"read {folder.name}", unit="img", disable=not progress)):
        with Image.open(path) as image:
            pixels[row] = to_pixels(image, width, height)
    return LabelledSet([label_of(path) for path in paths], pixels)


def load_folder_split(
    root: Path, width: int, height: int, seed: int, progress: bool = True
) -> tuple[LabelledSet, LabelledSet, dict[str, Any]]:
    """Train and validation sets from a folder, plus the card's `training_data` entry."""
    if (root / "train").is_dir() and (root / "test").is_dir():
        train = load_folder(root / "train", width, height, progress)
        validation = load_folder(root / "test", width, height, progress)
        layout = "train/ and test/ (verify-split)"
    else:
        data = load_folder(root, width, height, progress)
        order = np.random.default_rng(seed).permutation(len(data))
        cut = max(1, len(data) // 10)
        train, validation = data.subset(order[cut:]), data.subset(order[:cut])
        layout = "flat; seeded shuffle, last 10% validate"
    info = {
        "source": "folder",
        "folder": str(root),
        "layout": layout,
        "sha256_of_labels": hashlib.sha256("\n".join(sorted(train.labels)).encode()).hexdigest(),
        "train_samples": len(train),
        "validation_samples": len(validation),
    }
    return train, validation, info


def _augmenter(seed: int) -> keras.Sequential:
    """Small geometric and contrast jitter: enough to stretch a few hundred real images."""
    return keras.Sequential(
        [
            layers.RandomTranslation(0.06, 0.04, fill_mode="nearest", seed=seed),
            layers.RandomRotation(0.015, fill_mode="nearest", seed=seed + 1),
            layers.RandomZoom(0.06, fill_mode="nearest", seed=seed + 2),
            layers.RandomContrast(0.25, seed=seed + 3),
        ]
    )


AUGMENTATION = "random translation 6%/4%, rotation +/-5 deg, zoom +/-6%, contrast +/-25% (tf.data)"


def make_pipeline(
    data: LabelledSet,
    charset: str,
    max_length: int,
    batch_size: int,
    training: bool = False,
    augment: bool = False,
    seed: int = 0,
) -> tf.data.Dataset:
    """(images float32 (b, h, w, 1), targets int32 (b, max_length) padded with blank) batches."""
    targets = encode_labels(data.labels, charset, max_length)
    dataset = tf.data.Dataset.from_tensor_slices((data.pixels, targets))
    if training:
        dataset = dataset.shuffle(min(len(data), 20_000), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size).map(
        lambda x, y: (tf.cast(x, tf.float32)[..., tf.newaxis] / 255.0, y),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    if training and augment:
        augmenter = _augmenter(seed)
        dataset = dataset.map(
            lambda x, y: (tf.clip_by_value(augmenter(x, training=True), 0.0, 1.0), y),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)
