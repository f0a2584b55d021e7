"""Training and evaluation data: MNIST `.npz` files, folders of labelled images, tf.data pipelines.

Every loader returns what the served model takes: float32 arrays of shape (N, 28, 28, 1) with
values in [0, 1] (pixel / 255), white ink on a black background, and int64 labels 0-9. Keeping
the scaling here (and out of the model) means the model sees exactly what the service feeds it.

Two layouts are understood:

* an MNIST `.npz` file with the arrays `x_train`, `y_train`, `x_test`, `y_test` (uint8, white
  digits on black), as written by `keras.datasets.mnist`;
* a folder of labelled images, `<root>/<label 0-9>/*.png|jpg|jpeg|bmp|gif`, for a practitioner's
  own digits. Each image goes through the service's own pre-processing (`digit_service.preprocess`:
  crop to the ink, fit 20x20, centre by mass), so the model learns from exactly what it will be
  served. Images that cannot be read, or that hold no digit or several, are skipped and listed;
  nothing is moved or deleted.

Augmentation (random rotation, zoom and translation) lives in the tf.data pipeline, never in the
saved model, so the served graph stays a plain classifier.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from digit_service.preprocess import prepare_digits
from recognition_common.edge.errors import ApiError
from recognition_common.edge.imaging import ImageLimits, decode_image

IMAGE_SIZE = 28
NUM_CLASSES = 10
CLASSES = [str(digit) for digit in range(NUM_CLASSES)]
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}
VALIDATION_SAMPLES = 5000


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the random affine transform applied to each training image.

    The defaults are the usual MNIST recipe: enough variation to stop a CNN memorising stroke
    positions, small enough that a 6 never turns into a 9.
    """

    rotation_degrees: float = 10.0  # uniform in [-r, r]
    zoom: float = 0.1  # scale uniform in [1 - z, 1 + z]
    translation: float = 0.1  # shift uniform in [-t, t] of the image size, per axis

    def describe(self) -> str:
        """One line for the model card."""
        return (
            f"random rotation +/-{self.rotation_degrees:g} deg, zoom +/-{self.zoom:g}, "
            f"translation +/-{self.translation:g} of the image size (one bilinear affine "
            "transform per image, black fill, in the tf.data pipeline)"
        )


@dataclass(frozen=True)
class DataSet:
    """Images and labels in model layout."""

    x: np.ndarray  # float32 (N, 28, 28, 1) in [0, 1]
    y: np.ndarray  # int64 (N,) labels, or float32 (N, 10) targets for training


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, or of a folder's image files (names and bytes, in sorted order).

    Recorded in the model card so a model can be traced back to the exact bytes it learnt from.
    """
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if _is_image(p))
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode())
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) white-on-black images -> float32 (N, 28, 28, 1) in [0, 1]."""
    return (images.astype(np.float32) / 255.0)[..., np.newaxis]


def load_mnist_npz(path: Path) -> tuple[DataSet, DataSet]:
    """Load the (train, test) split of an MNIST-layout `.npz` file."""
    with np.load(path) as arrays:
        train = DataSet(to_model_input(arrays["x_train"]), arrays["y_train"].astype(np.int64))
        test = DataSet(to_model_input(arrays["x_test"]), arrays["y_test"].astype(np.int64))
    return train, test


def load_image_folder(root: Path) -> DataSet:
    """Load every image under `<root>/<label>/`, in sorted order (see the module docstring)."""
    images: list[np.ndarray] = []
    labels: list[int] = []
    skipped: list[str] = []
    for label in range(NUM_CLASSES):
        folder = root / str(label)
        if not folder.is_dir():
            continue
        for file in sorted(p for p in folder.iterdir() if _is_image(p)):
            try:
                images.append(_load_digit_image(file))
            except ValueError as exc:
                skipped.append(f"{file.relative_to(root)}: {exc}")
                continue
            labels.append(label)
    if skipped:
        print(f"skipped {len(skipped)} image(s) under {root}:")
        for line in skipped:
            print(f"  {line}")
    if not images:
        raise ValueError(f"no images found under {root}/<0-9>/ (expected {sorted(IMAGE_SUFFIXES)})")
    return DataSet(np.stack(images), np.asarray(labels, dtype=np.int64))


MNIST_SOURCE = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"


def load_dataset(path: Path) -> tuple[DataSet, DataSet | None]:
    """Load `(train, test)` from an `.npz` file, or `(all images, None)` from an image folder."""
    if not path.exists():
        raise ValueError(
            f"{path} not found: the MNIST data set (mnist.npz, the arrays keras.datasets.mnist.load_data() "
            f"returns; public, {MNIST_SOURCE}) or a folder <root>/<0-9>/*.png; point the command at it "
            "with --data PATH (make: DATA=PATH; `make download-mnist` fetches it where there is internet)"
        )
    if path.is_dir():
        return load_image_folder(path), None
    if path.suffix == ".npz":
        return load_mnist_npz(path)
    raise ValueError(f"{path}: expected an MNIST-layout .npz file or a folder <root>/<0-9>/*.png")


def split_validation(data: DataSet, validation_samples: int = VALIDATION_SAMPLES) -> tuple[DataSet, DataSet]:
    """Hold out the *last* `validation_samples` images for checkpoint selection.

    A fixed tail (not a random draw) keeps the split identical across runs and seeds, and it is
    the split Keras' own MNIST examples use. The test set is never used for selection.
    """
    if not 0 < validation_samples < len(data.y):
        raise ValueError(f"cannot hold out {validation_samples} of {len(data.y)} samples")
    cut = len(data.y) - validation_samples
    return DataSet(data.x[:cut], data.y[:cut]), DataSet(data.x[cut:], data.y[cut:])


def make_pipeline(
    data: DataSet,
    batch_size: int,
    *,
    training: bool = False,
    augmentation: Augmentation | None = None,
    seed: int = 0,
) -> tf.data.Dataset:
    """Batched `(images, labels)` dataset; shuffled and (optionally) augmented when training.

    Augmentation is applied per batch after batching, which vectorises the affine transform and
    is several times faster than mapping over single images on a CPU. Each batch draws its
    random numbers from its own stateless seed (from `Dataset.random`, new every epoch), so a run
    is reproducible for a given `seed` even though batches are augmented in parallel.
    """
    dataset = tf.data.Dataset.from_tensor_slices((data.x, data.y))
    if training:
        dataset = dataset.shuffle(len(data.y), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if training and augmentation is not None:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip(dataset, seeds).map(
            lambda batch, pair: (random_affine(batch[0], augmentation, pair), batch[1]),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


def random_affine(images: tf.Tensor, augmentation: Augmentation, seed: tf.Tensor) -> tf.Tensor:
    """Rotate, zoom and shift each image of a (B, H, W, 1) batch by its own random amounts.

    The three are composed into one projective transform so each image is resampled once
    (chaining Keras' RandomRotation/RandomZoom/RandomTranslation would blur it three times).
    The transform maps each *output* pixel to the input point it samples:
    `input = R(angle) / scale * (output - centre) + centre - shift`.
    """
    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=4)

    def uniform(index: int, limit: float) -> tf.Tensor:
        return tf.random.stateless_uniform([batch], seeds[index], -limit, limit)

    height = tf.cast(tf.shape(images)[1], tf.float32)
    width = tf.cast(tf.shape(images)[2], tf.float32)
    max_angle = augmentation.rotation_degrees * math.pi / 180.0
    angle = uniform(0, max_angle)
    scale = 1.0 + uniform(1, augmentation.zoom)
    shift_x = uniform(2, augmentation.translation) * width
    shift_y = uniform(3, augmentation.translation) * height
    centre_x, centre_y = (width - 1.0) / 2.0, (height - 1.0) / 2.0

    a0, a1 = tf.cos(angle) / scale, -tf.sin(angle) / scale
    b0, b1 = tf.sin(angle) / scale, tf.cos(angle) / scale
    a2 = centre_x - a0 * centre_x - a1 * centre_y - shift_x
    b2 = centre_y - b0 * centre_x - b1 * centre_y - shift_y
    zeros = tf.zeros_like(angle)
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def _load_digit_image(path: Path) -> np.ndarray:
    """One image as the service would see it: float32 (28, 28, 1), white on black, in [0, 1]."""
    try:
        samples = prepare_digits(decode_image(path.read_bytes(), ImageLimits()))
    except ApiError as exc:
        raise ValueError(exc.message) from exc
    if len(samples) != 1:
        raise ValueError(f"expected one digit, found {len(samples)}")
    return samples[0].pixels[..., np.newaxis]
