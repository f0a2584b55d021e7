"""Training data: generated captchas or a folder of labelled images, as tf.data pipelines.

A folder is either flat (`<label>_<id>.png` files) or the output of `verify-split` (`train/` and
`test/` sub-folders). Three parts come out of it, and only one is trained on:

* test: held out for the final evaluation that decides whether the model is installed. `test/`
  when there is one, else the images whose content hash puts them there (1 in 10, as
  `verify-split` does: stable when images are added). Never used for any training decision.
* validation: 10% of the rest (seeded shuffle), for the best epoch, the schedule and early stop.
* train: everything else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from PIL import Image

from captcha_service.commands.verify_split import split_of
from captcha_service.ctc import encode_labels
from captcha_service.labels import label_of, list_images
from captcha_service.preprocess import to_pixels
from captcha_service.training.augment import Augmentation, augment_batch

TEST_RATIO = (9, 1)  # train+validation : test, for a flat folder
VALIDATION_SHARE = 0.1


@dataclass
class LabelledSet:
    labels: list[str]
    pixels: np.ndarray  # (n, height, width) uint8

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray) -> LabelledSet:
        return LabelledSet([self.labels[i] for i in indices], self.pixels[indices])


def folder_images(folder: Path) -> list[Path]:
    """The images of a dataset folder (flat, or train/ + test/); a one-line error when there are none."""
    if not folder.exists():
        raise FileNotFoundError(f"--data {folder}: no such folder")
    if not folder.is_dir():
        raise NotADirectoryError(f"--data {folder}: not a folder")
    if is_split(folder):
        paths = list_images(folder / "train") + list_images(folder / "test")
    else:
        paths = list_images(folder)
    if not paths:
        raise ValueError(
            f"--data {folder}: no images (.png, .jpg, ...) in it; name each <label>_<anything>.png, "
            "or give the folder verify-split made (train/ and test/)"
        )
    return paths


def is_split(folder: Path) -> bool:
    return (folder / "train").is_dir() and (folder / "test").is_dir()


def load_images(
    paths: list[Path],
    width: int,
    height: int,
    resize: str = "stretch",
    progress: bool = True,
    desc: str = "read",
) -> LabelledSet:
    """The images at `paths` as the model sees them, labelled by their file names."""
    from tqdm import tqdm

    pixels = np.empty((len(paths), height, width), dtype=np.uint8)
    for row, path in enumerate(tqdm(paths, desc=desc, unit="img", disable=not progress)):
        try:
            with Image.open(path) as image:
                pixels[row] = to_pixels(image, width, height, resize)
        except OSError as error:
            raise ValueError(
                f"{path}: unreadable image ({error}); verify-split moves such files aside"
            ) from None
    return LabelledSet([label_of(path) for path in paths], pixels)


def load_folder(
    folder: Path, width: int, height: int, progress: bool = True, resize: str = "stretch"
) -> LabelledSet:
    """Every image directly in `folder`, at width x height, labelled by its file name."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    paths = list_images(folder)
    if not paths:
        raise ValueError(f"{folder}: no images in it")
    return load_images(paths, width, height, resize, progress, f"read {folder.name}")


def split_paths(root: Path, seed: int) -> tuple[list[Path], list[Path], list[Path], str]:
    """(train, validation, test) image paths of a dataset folder, and how they were split."""
    if is_split(root):
        rest, test = list_images(root / "train"), list_images(root / "test")
        layout = "train/ and test/ (verify-split): test/ held out; 10% of train/ validate"
    else:
        rest, test = [], []
        for path in list_images(root):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            (test if split_of(digest, TEST_RATIO) == "test" else rest).append(path)
        layout = "flat: 1 in 10 held out for the test by content hash; 10% of the rest validate"
    order = np.random.default_rng(seed).permutation(len(rest))
    cut = max(1, round(len(rest) * VALIDATION_SHARE)) if len(rest) > 1 else 0
    validation = [rest[i] for i in sorted(order[:cut])]
    train = [rest[i] for i in sorted(order[cut:])]
    if not train or not validation or not test:
        raise ValueError(
            f"--data {root}: {len(train) + len(validation) + len(test)} images are too few to train, "
            "validate and test on; a few hundred are needed"
        )
    return train, validation, test, layout


def data_info(
    root: Path, layout: str, train: LabelledSet, validation: LabelledSet, test: LabelledSet
) -> dict[str, Any]:
    """The card's `training_data` entry for a folder."""
    return {
        "source": "folder",
        "folder": str(root),
        "layout": layout,
        "sha256_of_labels": hashlib.sha256("\n".join(sorted(train.labels)).encode()).hexdigest(),
        "train_samples": len(train),
        "validation_samples": len(validation),
        "test_samples": len(test),
    }


def make_pipeline(
    data: LabelledSet, charset: str, max_length: int, batch_size: int, training: bool = False, seed: int = 0
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
    return dataset.prefetch(tf.data.AUTOTUNE)


def augmented_pipeline(
    data: LabelledSet, charset: str, max_length: int, batch_size: int, augmentation: Augmentation, seed: int
) -> tf.data.Dataset:
    """An endless stream of shuffled batches, every image freshly distorted (`augment`)."""
    targets = encode_labels(data.labels, charset, max_length)
    height, width = data.pixels.shape[1:]

    def batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng(seed)
        while True:
            order = rng.permutation(len(data))
            for start in range(0, len(order) - batch_size + 1 if len(order) >= batch_size else 1, batch_size):
                chosen = np.sort(order[start : start + batch_size])
                images = augment_batch(data.pixels[chosen], rng, augmentation)
                yield images[..., np.newaxis], targets[chosen]

    signature = (
        tf.TensorSpec((None, height, width, 1), tf.float32),
        tf.TensorSpec((None, max_length), tf.int32),
    )
    return tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(4)
