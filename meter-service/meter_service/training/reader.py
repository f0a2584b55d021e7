"""Train and evaluate the wheel reader: 20x32 wheel crop -> where the wheel stands, in tenths.

    python -m meter_service.cli train-reader --data ../shared/data/meter-digits/meterdigits.tar.gz \\
        [--out meter-service/models] [--name default] --seed 42 [--members 2] [--extra MY_CROPS ...]
    python -m meter_service.cli train-reader --evaluate --model-dir meter-service/models/default \\
        --data ../shared/data/meter-digits/meterdigits.tar.gz [--write-card]

Training uses the real crops' train split (see `reader_data`: de-duplicated, split by wheel),
any `--extra` folders, a minority of rendered crops and cells cut from generated meter photos by
the service's own code at jittered corners (`window_cells`, `--window-photos/--window-crops`),
augmented like field photos; it keeps the epoch that reads most validation crops within half
a digit. `--members N` trains N such readers from seeds --seed, --seed + 1, ... and serves their
average (`build_ensemble`). It writes these files into `<--out>/<--name>/`, the model
directory, and nothing else there (its `locator/` sub-directory is another model's)::

    model.keras          inference model, crop float32 (32, 20, 3) in [0, 1] -> 100 probabilities
    card.json            classes "0.0".."9.9", data, split, recipe, validation figures
    history.json         per-epoch loss, validation figures, seconds
    training_curve.png   the same, plotted

`--evaluate` measures the held-out test split (or a `--folder` of labelled crops, e.g. another
meter's wheels) and, with `--write-card`, records the figures in the card.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from meter_service.reader import (
    INPUT_SHAPE,
    NUM_CLASSES,
    circular_distance,
    classes_tenths,
    decode_wheels,
    reader_input,
)
from meter_service.training.reader_data import (
    DEFAULT_CACHE,
    LOOKALIKE_RMS,
    SEGMENT_SHARE,
    SPLIT_FRACTIONS,
    RealCrops,
    Split,
    labels_of,
    load_extra,
    load_real,
    read_pixels,
    synthetic_available,
    synthetic_crops,
)
from meter_service.training.window_cells import DEFAULT_SEED as WINDOW_SEED
from meter_service.training.window_cells import JITTER, window_cells
from recognition_common.artifacts import Curve, History, TrainingRun, save_training_artifacts, servable_copy
from recognition_common.calibration import expected_calibration_error
from recognition_common.serving.model_card import (
    CARD_FILE,
    MODEL_FILE,
    ModelCard,
    check_model_name,
    read_card,
    update_card_metrics,
)
from recognition_common.serving.models import configure_tensorflow, load_compiled

SERVICE_ROOT = Path(__file__).resolve().parents[2]
REPO_ROOT = SERVICE_ROOT.parent
DEFAULT_DATA = (REPO_ROOT / ".." / "shared" / "data" / "meter-digits" / "meterdigits.tar.gz").resolve()
DEFAULT_MODELS = SERVICE_ROOT / "models"
DEFAULT_NAME = "default"
DEFAULT_OUT = DEFAULT_MODELS / DEFAULT_NAME
# 1.3.0: trained on the validation split too (--fit-validation); 1.2.0: two readers averaged;
# 1.1.0: segment digits, stroke and width augmentation
MODEL_VERSION = "1.3.0"
WHEELS = 5
LABEL_SIGMA = 1.0  # tenths: soft labels spread over neighbouring tenths (they look alike)
SYNTHETIC = 3000  # rendered crops added to training (the real train split has ~15,000)
EPOCHS = 26  # the validation figures still rose at 18
MEMBERS = 2  # readers averaged into the served model (build_ensemble)
SYNTHETIC_EVAL_SEED = 20_260  # fresh renders for the robustness figure, never trained on
# Cells cut by the service's own code (`pipeline.aligned_cuts`) from generated photos and window
# crops at jittered true corners (`window_cells`): ~11,700 cells from these defaults.
WINDOW_PHOTOS, WINDOW_CROPS = 1800, 300

FILTERS = (32, 48, 64)  # per conv block
DENSE = 128
CONV_DROPOUT, DENSE_DROPOUT = 0.05, 0.2  # light: augmentation does most of the regularising

ARCHITECTURE = (
    f"per-crop standardisation (layer norm over all pixels, no parameters), 3 blocks of 2x "
    f"[conv 3x3 ({', '.join(map(str, FILTERS))}) + batch norm + relu] + maxpool 2x2 + dropout "
    f"{CONV_DROPOUT:g} (32x20 -> 4x2), flatten, dropout {DENSE_DROPOUT:g}, dense {DENSE} relu, "
    f"dropout {DENSE_DROPOUT:g}, dense 100 softmax (tenths 0.0..9.9)"
)
# Vertical shift moves the digits, which is exactly what a wheel's roll does. Generated crops are
# labelled with what they show to the hundredth, so they shift by at most 1.5% of the height (a
# fiftieth of a digit) and keep their tenths; people's labels of real crops are a tenth apart at
# best and their crops were cut by hand-set boxes, so those shift by up to 5%, as such cuts do.
SHIFT_HIGH_EXACT, SHIFT_HIGH_PEOPLE, SHIFT_WIDE = 0.015, 0.05, 0.08
# Counters are printed in fonts the reader never saw: narrower or wider digits than its own, with
# thinner or heavier strokes. The width is zoomed on its own (the height, which carries the roll,
# only as much as before), and the strokes are thickened or thinned by a grey-level 3x3 dilation
# or erosion blended in.
ZOOM_HIGH, ZOOM_WIDE, STROKE_P = 0.08, 0.2, 0.3
AUGMENTATION = (
    f"per crop: JPEG re-encoding (quality 25-90, p 0.3); shift +/-{SHIFT_WIDE:.0%} wide, "
    f"+/-{SHIFT_HIGH_EXACT:.1%} high (generated crops) or +/-{SHIFT_HIGH_PEOPLE:.0%} (people's), rotation "
    f"+/-4 deg, zoom +/-{ZOOM_HIGH:.0%} high and independently +/-{ZOOM_WIDE:.0%} wide (nearest fill); "
    f"strokes thickened or thinned (3x3 grey dilation or erosion blended 0-1, p {STROKE_P:g}); "
    "contrast x0.5-1.4, brightness +/-0.2, a linear light "
    "gradient +/-0.15, channel permutation (p 0.3), grey (p 0.15), inversion (p 0.15), blur "
    "(3x3 Gaussian blended 0-1, p 0.3), Gaussian noise sigma 0-0.04; no flips"
)


# --- Model -------------------------------------------------------------------------------------


def build_reader(
    filters: tuple[int, ...] = FILTERS,
    dense: int = DENSE,
    conv_dropout: float = CONV_DROPOUT,
    dense_dropout: float = DENSE_DROPOUT,
    name: str = "wheel_reader",
) -> keras.Model:
    """(32, 20, 3) float in [0, 1] -> (100,) probabilities of the tenths.

    Flatten rather than global pooling: where the digits sit vertically is the answer (how far
    the wheel has rolled), and pooling would throw it away. Plain Keras layers only, so the
    saved model loads in a fresh process without custom objects.
    """
    crop = keras.Input(INPUT_SHAPE, name="crop")
    # Each crop standardised to zero mean, unit variance: how bright or contrasty the photo was
    # says nothing about the digit (and it makes the first epochs learn several times faster).
    x = layers.LayerNormalization(axis=[1, 2, 3], center=False, scale=False, epsilon=1e-3)(crop)
    for width in filters:
        for _ in range(2):
            x = layers.Conv2D(width, 3, padding="same", use_bias=False, kernel_initializer="he_normal")(x)
            x = layers.BatchNormalization()(x)
            x = layers.ReLU()(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Dropout(conv_dropout)(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(dense_dropout)(x)
    x = layers.Dense(dense, activation="relu", kernel_initializer="he_normal")(x)
    x = layers.Dropout(dense_dropout)(x)
    tenths = layers.Dense(NUM_CLASSES, activation="softmax", name="tenths")(x)
    return keras.Model(crop, tenths, name=name)


def build_ensemble(members: int) -> keras.Model:
    """`members` readers side by side, their probabilities averaged: one model, one file.

    Readers trained from different seeds misread different crops, and a digit in a font none of
    them saw splits their votes, so the average is right more often and, above all, less sure
    when it is wrong (what the refusal needs). One member is the plain reader. Plain Keras
    layers (nested models, `Average`), so the file loads without custom objects.
    """
    if members < 1:
        raise ValueError(f"members must be at least 1, got {members}")
    if members == 1:
        return build_reader()
    crop = keras.Input(INPUT_SHAPE, name="crop")
    votes = [build_reader(name=f"wheel_reader_{index + 1}")(crop) for index in range(members)]
    tenths = layers.Average(name="tenths")(votes)
    return keras.Model(crop, tenths, name="wheel_reader_ensemble")


def ensemble_members(model: keras.Model) -> int:
    """How many readers `model` averages (built by `build_ensemble`): 1 for a plain reader."""
    return sum(isinstance(layer, keras.Model) for layer in model.layers) or 1


def soft_targets(sigma: float = LABEL_SIGMA) -> np.ndarray:
    """(100, 100) float32: row k is a circular Gaussian around class k (sigma in tenths).

    A crop labelled 3.0 is nearly the same picture as one labelled 2.9 or 3.1, and labellers
    disagree by a tenth; spreading the target over neighbours says so, and keeps 9.9 next to 0.0.
    """
    offsets = np.arange(NUM_CLASSES)
    distance = np.abs(offsets[:, None] - offsets[None, :])
    distance = np.minimum(distance, NUM_CLASSES - distance)
    if sigma <= 0:
        return np.eye(NUM_CLASSES, dtype=np.float32)
    table = np.exp(-0.5 * (distance / sigma) ** 2)
    return (table / table.sum(axis=1, keepdims=True)).astype(np.float32)


# --- Input pipeline and augmentation -----------------------------------------------------------


def make_dataset(
    pixels: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    training: bool = False,
    seed: int = 0,
    sigma: float = LABEL_SIGMA,
    people: np.ndarray | None = None,
) -> Any:
    """(crops float32 (b, 32, 20, 3), soft targets (b, 100)) batches; training ones augmented.

    `people` marks the crops labelled by people (real and the user's own; default: all), which
    augmentation may shift further up and down than generated ones (see SHIFT_HIGH_PEOPLE).
    """
    table = tf.constant(soft_targets(sigma))
    people = np.ones(len(labels), dtype=bool) if people is None else np.asarray(people, dtype=bool)
    dataset = tf.data.Dataset.from_tensor_slices((pixels, labels.astype(np.int32), people))
    if training:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.map(_jpeg_map(seed), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        dataset = dataset.map(lambda x, y, p: (tf.cast(x, tf.float32) / 255.0, y, p))
    dataset = dataset.batch(batch_size)
    if training:
        dataset = dataset.map(_batch_augmenter(seed), num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.map(lambda x, y, p: (x, tf.gather(table, y)))
    return dataset.prefetch(tf.data.AUTOTUNE)


def _jpeg_map(seed: int) -> Any:
    """Per crop (JPEG works one image at a time): scale to [0, 1], sometimes re-encode."""

    def jpeg(x: Any, y: Any, people: Any) -> tuple[Any, Any, Any]:
        x = tf.cast(x, tf.float32) / 255.0
        x = tf.cond(
            tf.random.uniform([]) < 0.3,
            lambda: tf.image.random_jpeg_quality(x, 25, 90),
            lambda: x,
        )
        return tf.ensure_shape(x, INPUT_SHAPE), y, people

    return jpeg


def _batch_augmenter(seed: int) -> Any:
    """Per-sample geometric and photometric jitter on a batch, like crops cut from field photos."""
    shift_exact = layers.RandomTranslation(SHIFT_HIGH_EXACT, SHIFT_WIDE, fill_mode="nearest", seed=seed)
    shift_people = layers.RandomTranslation(SHIFT_HIGH_PEOPLE, SHIFT_WIDE, fill_mode="nearest", seed=seed + 3)
    geometry = keras.Sequential(
        [
            layers.RandomRotation(4 / 360, fill_mode="nearest", seed=seed + 1),
            layers.RandomZoom(ZOOM_HIGH, ZOOM_WIDE, fill_mode="nearest", seed=seed + 2),
        ]
    )
    permutations = tf.constant(
        [
            np.eye(3)[list(order)]
            for order in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))
        ],
        dtype=tf.float32,
    )
    blur_kernel = np.outer(*(2 * [np.array([1.0, 2.0, 1.0]) / 4.0]))
    blur_kernel = tf.constant(np.tile(blur_kernel[:, :, None, None], (1, 1, 3, 1)), dtype=tf.float32)
    height, width = INPUT_SHAPE[0], INPUT_SHAPE[1]

    def chance(n: Any, p: float) -> Any:
        return tf.cast(tf.random.uniform([n, 1, 1, 1]) < p, tf.float32)

    def augment(x: Any, y: Any, people: Any) -> tuple[Any, Any, Any]:
        n = tf.shape(x)[0]
        by_people = tf.reshape(people, [-1, 1, 1, 1])
        x = tf.where(by_people, shift_people(x, training=True), shift_exact(x, training=True))
        x = geometry(x, training=True)
        # Stroke weight: dilate or erode the grey levels (which of them is the ink varies).
        dilated = tf.nn.max_pool2d(x, 3, 1, "SAME")
        eroded = -tf.nn.max_pool2d(-x, 3, 1, "SAME")
        morphed = tf.where(chance(n, 0.5) > 0, dilated, eroded)
        x = x + chance(n, STROKE_P) * tf.random.uniform([n, 1, 1, 1]) * (morphed - x)
        # Colour: which channel is which (red wheels, tinted light), grey, inverted print.
        choice = tf.where(
            tf.random.uniform([n]) < 0.3,
            tf.random.uniform([n], 0, 6, dtype=tf.int32),
            tf.zeros([n], tf.int32),
        )
        x = tf.einsum("bhwc,bcd->bhwd", x, tf.gather(permutations, choice))
        grey = tf.reduce_mean(x, axis=-1, keepdims=True) * tf.ones_like(x)
        x = x + chance(n, 0.15) * (grey - x)
        x = x + chance(n, 0.15) * (1.0 - 2.0 * x)
        # Light: contrast about the crop's mean, brightness, a gradient across the crop.
        mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
        contrast = tf.random.uniform([n, 1, 1, 1], 0.5, 1.4)
        x = (x - mean) * contrast + mean + tf.random.uniform([n, 1, 1, 1], -0.2, 0.2)
        rows = tf.reshape(tf.linspace(-1.0, 1.0, height), [1, height, 1, 1])
        cols = tf.reshape(tf.linspace(-1.0, 1.0, width), [1, 1, width, 1])
        x = x + tf.random.uniform([n, 1, 1, 1], -0.15, 0.15) * rows
        x = x + tf.random.uniform([n, 1, 1, 1], -0.15, 0.15) * cols
        # Focus and sensor: blur blended in, Gaussian noise.
        blurred = tf.nn.depthwise_conv2d(x, blur_kernel, [1, 1, 1, 1], "SAME")
        x = x + chance(n, 0.3) * tf.random.uniform([n, 1, 1, 1]) * (blurred - x)
        x = x + tf.random.normal(tf.shape(x)) * tf.random.uniform([n, 1, 1, 1], 0.0, 0.04)
        return tf.clip_by_value(x, 0.0, 1.0), y, people

    return augment


# --- Scoring -----------------------------------------------------------------------------------


def score_positions(positions: np.ndarray, labels: np.ndarray) -> dict[str, float | int]:
    """Reading figures of decoded positions against class labels (tenths).

    whole_digit_accuracy: crops labelled d.0, read as d (nearest digit, as an isolated wheel);
    within_0_1 / within_0_5: position within a tenth / half a digit of the label, circularly;
    mae_tenths: mean circular distance in tenths.
    """
    truth = labels.astype(np.float64) / 10.0
    distance = circular_distance(positions, truth)
    whole = labels % 10 == 0
    digits = np.floor(positions + 0.5).astype(int) % 10
    return {
        "whole_digit_accuracy": float((digits[whole] == labels[whole] // 10).mean())
        if whole.any()
        else math.nan,
        "within_0_1": float((distance <= 0.1 + 1e-6).mean()) if len(labels) else math.nan,
        "within_0_5": float((distance <= 0.5 + 1e-6).mean()) if len(labels) else math.nan,
        "mae_tenths": float(distance.mean() * 10) if len(labels) else math.nan,
        "crops": len(labels),
        "whole_digit_crops": int(whole.sum()),
    }


def read_positions(predict: Any, inputs: np.ndarray, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Positions and confidences of float32 crops through a batch -> probabilities function."""
    outputs = [predict(inputs[start : start + batch_size]) for start in range(0, len(inputs), batch_size)]
    probabilities = np.concatenate(outputs) if outputs else np.zeros((0, NUM_CLASSES), np.float32)
    readings = decode_wheels(probabilities)
    positions = np.array([reading.position for reading in readings], dtype=np.float64)
    confidences = np.array([reading.confidence for reading in readings], dtype=np.float64)
    return positions, confidences


# --- Training ----------------------------------------------------------------------------------


class Selector(keras.callbacks.Callback):
    """After each epoch: read the validation crops, log the figures, keep the best weights in memory.

    Best = most crops read within half a digit (all of them, not only the whole digits: more
    crops, steadier); ties go to the smaller mean error.
    """

    def __init__(
        self,
        validation: Split,
        history: dict[str, list[float]],
        quiet: bool,
        label: str = "",
        keep_last: bool = False,
    ) -> None:
        super().__init__()
        self.label = label  # which member, when several are trained
        # With the validation crops trained on (--fit-validation) their figures choose nothing:
        # the last epoch is kept, as the recipe's runs on the train split alone peak at its end.
        self.keep_last = keep_last
        self.inputs = reader_input(validation.pixels)
        self.labels = validation.labels
        self.history = history
        self.quiet = quiet
        self.best_key: tuple[float, float] = (-1.0, 0.0)
        self.best_epoch = 0
        self.best_weights: list[np.ndarray] | None = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = dict(logs or {})
        positions, _ = read_positions(lambda batch: self.model(batch, training=False).numpy(), self.inputs)
        figures = score_positions(positions, self.labels)
        logs["seconds"] = time.perf_counter() - self.started
        for key in ("whole_digit_accuracy", "within_0_1", "within_0_5", "mae_tenths"):
            logs[f"val_{key}"] = figures[key]
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        score = (round(figures["within_0_5"], 6), -figures["mae_tenths"])
        if score >= self.best_key or self.keep_last:
            self.best_key, self.best_epoch = score, epoch + 1
            self.best_weights = self.model.get_weights()
        if not self.quiet:
            print(
                f"{self.label}epoch {epoch + 1}: loss {logs['loss']:.4f}"
                f" val_loss {logs.get('val_loss', math.nan):.4f}"
                f" | validation whole digit {figures['whole_digit_accuracy']:.4f}"
                f" +/-0.1 {figures['within_0_1']:.4f} +/-0.5 {figures['within_0_5']:.4f}"
                f" MAE {figures['mae_tenths']:.3f} tenths | {logs['seconds']:.0f} s",
                flush=True,
            )


@dataclass(frozen=True)
class TrainingData:
    """What every member trains on, loaded once: the real split and the crops besides it.

    The rendered crops are not here: each member renders its own from its seed, as a run with
    that `--seed` alone would.
    """

    real: RealCrops
    people: list[tuple[np.ndarray, np.ndarray]]  # real train split, then the user's own crops
    cells: tuple[np.ndarray, np.ndarray] | None  # cut from generated photos
    extra_count: int
    synthetic: int  # rendered crops per member

    @property
    def people_count(self) -> int:
        """Crops labelled by people (they come first in every member's training set)."""
        return sum(len(labels) for _, labels in self.people)

    @property
    def cell_count(self) -> int:
        return len(self.cells[1]) if self.cells is not None else 0


@dataclass(frozen=True)
class Member:
    """One trained reader: its best weights and how it got there."""

    seed: int
    weights: list[np.ndarray]
    history: dict[str, list[float]]
    best_epoch: int
    seconds: float


def load_training_data(args: argparse.Namespace, progress: bool) -> TrainingData:
    real = load_real(args.data, args.cache, progress)
    if not len(real.splits["validation"]):
        raise SystemExit("the split left no validation crops: the data needs more distinct wheel prefixes")
    train_split = real.splits["train"]
    people = [(train_split.pixels, train_split.labels)]
    if args.fit_validation:  # the recipe was chosen on it; the final reader learns from it too
        validation = real.splits["validation"]
        people.append((validation.pixels, validation.labels))
    extra_count = 0
    if args.extra:
        extra = load_extra(args.extra)
        extra_count = len(extra)
        people.append((read_pixels(extra, progress, "read extra crops"), labels_of(extra)))
    synthetic = args.synthetic
    if synthetic and not synthetic_available():
        print("meter_service.wheels is not importable: training without synthetic crops", flush=True)
        synthetic = 0
    cells = None
    if args.window_photos or args.window_crops:
        cells = window_cells(args.window_photos, args.window_crops, args.window_seed, progress=progress)
    data = TrainingData(real, people, cells, extra_count, synthetic)
    _print_split(real.summary, real.dedupe.as_dict(), real.lookalikes_attached, extra_count, synthetic)
    if data.cell_count:
        print(f"  + {data.cell_count} cells cut from generated photos and window crops", flush=True)
    return data


def train_member(args: argparse.Namespace, data: TrainingData, seed: int, label: str = "") -> Member:
    """Train one reader from `seed` (its initial weights, order, augmentation and rendered crops)
    and keep its best epoch on the validation crops."""
    keras.utils.set_random_seed(seed)
    parts = list(data.people)
    if data.synthetic:
        parts.append(synthetic_crops(data.synthetic, seed))
    if data.cells is not None:
        parts.append(data.cells)
    pixels = np.concatenate([part[0] for part in parts])
    labels = np.concatenate([part[1] for part in parts]).astype(np.int32)
    people = np.arange(len(labels)) < data.people_count

    validation = data.real.splits["validation"]
    train_ds = make_dataset(pixels, labels, args.batch_size, True, seed, args.label_sigma, people)
    validation_ds = make_dataset(validation.pixels, validation.labels, 512, sigma=args.label_sigma)
    steps = math.ceil(len(labels) / args.batch_size)
    model = build_reader()
    schedule = keras.optimizers.schedules.CosineDecay(
        args.learning_rate, decay_steps=max(1, args.epochs * steps), alpha=0.02
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.CategoricalCrossentropy(),
    )
    history: dict[str, list[float]] = {}
    selector = Selector(validation, history, args.quiet, label, keep_last=args.fit_validation)
    started = time.perf_counter()
    model.fit(
        train_ds,
        epochs=args.epochs,
        validation_data=validation_ds,
        callbacks=[selector],
        shuffle=False,  # the pipeline shuffles
        verbose=0 if args.quiet else (1 if sys.stdout.isatty() else 2),
    )
    seconds = time.perf_counter() - started
    weights = selector.best_weights if selector.best_weights is not None else model.get_weights()
    return Member(seed, weights, history, selector.best_epoch, seconds)


def joined(members: list[Member]) -> keras.Model:
    """The members' best weights in one servable model (`build_ensemble`): its weights are its
    readers' in order, so the members' lists one after another are the whole model's."""
    weights = [array for member in members for array in member.weights]
    return servable_copy(lambda: build_ensemble(len(members)), weights)


def mean_history(members: list[Member]) -> dict[str, list[float]]:
    """Each per-epoch series averaged over the members (their own are kept beside it)."""
    return {
        key: [float(np.mean(values)) for values in zip(*(m.history[key] for m in members), strict=True)]
        for key in members[0].history
    }


def train(args: argparse.Namespace, argv: list[str] | None = None) -> Path:
    """Load data, train `--members` readers (seeds --seed, --seed + 1, ...), each kept at its
    best epoch, and write the model directory's own files: one reader, or their average."""
    progress = not args.quiet
    check_model_name(args.name)
    data = load_training_data(args, progress)
    members = []
    for index in range(args.members):
        label = f"member {index + 1}/{args.members} (seed {args.seed + index}): " if args.members > 1 else ""
        members.append(train_member(args, data, args.seed + index, label))
    return save_reader(args, argv, data, members)


def save_reader(
    args: argparse.Namespace, argv: list[str] | None, data: TrainingData, members: list[Member]
) -> Path:
    """The members joined, measured on the validation crops and written with card, history and
    curve into `<--out>/<--name>/`."""
    training_seconds = sum(member.seconds for member in members)
    servable = joined(members)
    validation = data.real.splits["validation"]
    inputs = reader_input(validation.pixels)
    positions, _ = read_positions(lambda batch: servable(batch, training=False).numpy(), inputs)
    figures = score_positions(positions, validation.labels)

    out: Path = args.out / args.name
    train_split = data.real.splits["train"]
    real = data.real
    synthetic, extra_count = data.synthetic, data.extra_count
    window_count = data.cell_count
    training_data = {
        "source": (
            "real 20x32 wheel crops (meterdigits.tar.gz) + rendered wheels (meter_service.wheels) "
            "+ cells cut from generated meter photos by the service's code (window_cells)"
        ),
        "archive": str(args.data),
        "archive_sha256": real.archive_sha256,
        "dedupe": {**real.dedupe.as_dict(), "method": "SHA-256 of file bytes; copies' labels averaged"},
        "split": {
            "method": (
                "by wheel prefix: the ROI name in the file name (label, earlier readings, "
                "timestamps, counters and a leading 'main_' removed); whole prefixes go to "
                f"train/validation/test near {'/'.join(str(round(f * 100)) for f in SPLIT_FRACTIONS)} "
                "of crops, prefixes in a fixed-hash order, each to the split furthest below its "
                "share; files without a name train, unless they nearly duplicate a named crop "
                f"(RMS of 2x2 block means < {LOOKALIKE_RMS:g} grey levels), then they join its prefix"
            ),
            "lookalikes_attached": real.lookalikes_attached,
            **real.summary,
        },
        "train_samples": data.people_count + synthetic + window_count,
        "real_train_samples": len(train_split) + (len(validation) if args.fit_validation else 0),
        "validation_trained_on": bool(args.fit_validation),
        "extra_samples": extra_count,
        "extra_folders": [str(folder) for folder in args.extra or []],
        "synthetic_samples": synthetic,
        "synthetic_seed": args.seed if synthetic else None,  # member k's: this + k - 1
        "segment_digit_share": SEGMENT_SHARE,
        "window_cell_samples": window_count,
        "window_cells": (
            {
                "photos": args.window_photos,
                "window_crops": args.window_crops,
                "seed": args.window_seed,
                "method": (
                    "synth.generate_meter photos (sample_rng(seed, i)) and synth.render_window crops, "
                    f"4-8 wheels (mostly 5), {SEGMENT_SHARE:.0%} of them with segment digits, cut by "
                    "pipeline.aligned_cuts at jittered true corners "
                    f"({JITTER}); labels: where each wheel appears in its cell (its position, moved "
                    "by its drum's offset and by how far the cut sits above or below the row, in "
                    "digits of the drum's pitch: window_cells.cell_labels), snapped to the tenth"
                ),
            }
            if window_count
            else None
        ),
        "validation_samples": len(validation),
        "augmentation": AUGMENTATION,
        "label_smoothing": f"circular Gaussian over neighbouring tenths, sigma {args.label_sigma:g} tenths",
    }
    several = len(members) > 1
    best: int | tuple[int, ...] = tuple(m.best_epoch for m in members) if several else members[0].best_epoch
    history = mean_history(members) if several else members[0].history
    card = ModelCard(
        name=args.name,
        version=args.model_version,
        task="meter",
        description=(
            "Reads one wheel of a mechanical water meter: a 20x32 crop -> where the wheel stands, "
            "in tenths (0.0..9.9), so wheels caught between digits keep which two and how far. "
            "Serves with the counter-window locator in locator/."
        ),
        classes=classes_tenths(),
        input_shape=list(INPUT_SHAPE),
        training_data=training_data,
        # Figures on crops it trained on measure nothing: none then (`--fit-validation`).
        metrics={}
        if args.fit_validation
        else {
            f"validation_{key}": round(figures[key], 4)
            for key in ("whole_digit_accuracy", "within_0_1", "within_0_5", "mae_tenths")
        },
        created=date.today().isoformat(),
        components=["locator"],
        wheels=WHEELS,
        decoding=(
            "position = probability-weighted mean of the classes within 3 of the argmax, on the "
            "circle; confidence = probability within +/-0.5 of it (meter_service.reader.decode_wheel); "
            "a row's wheels then lose the offset its wheels at rest share (median, at most 0.15: "
            "meter_service.odometer.resting_offset) before the odometer rule"
        ),
        architecture=(
            f"the average of {len(members)} readers trained alike from seeds {args.seed}.."
            f"{args.seed + len(members) - 1} (build_ensemble), each: {ARCHITECTURE}"
            if several
            else ARCHITECTURE
        ),
        members=len(members),
        params=int(servable.count_params()),
        epochs=args.epochs,
        best_epoch=best,
        batch_size=args.batch_size,
        optimizer=f"Adam {args.learning_rate:g}, cosine decay to 2% over all steps; soft-label cross-entropy",
        seed=args.seed,
        training_seconds=round(training_seconds),
        training_machine="2 CPU cores, no GPU",
        framework={"keras": keras.__version__, "tensorflow": tf.__version__},
        trained_with=shlex.join(["python", "-m", "meter_service.cli", "train-reader", *(argv or [])]),
    )
    # Several members: history.json and the curve show their mean per epoch, and each one's own.
    own = {"members": [{"seed": m.seed, "best_epoch": m.best_epoch, **m.history} for m in members]}
    outcome = TrainingRun(history, best, training_seconds, own if several else {})
    label = f"{args.name}: wheel reader" + (f", mean of {len(members)} members" if several else "")
    if args.fit_validation:  # its "validation" curves are crops it learnt from
        label += ", validation split trained on (last epoch kept)"
    files = save_training_artifacts(out, servable, card, outcome, CURVE, label)
    if not args.quiet:
        size = (out / MODEL_FILE).stat().st_size / 1e6
        print(
            f"wrote {files} ({size:.2f} MB) in {training_seconds:.0f} s; best epoch {best}; "
            f"validation{' (trained on)' if args.fit_validation else ''} +/-0.5 {figures['within_0_5']:.4f}, "
            f"whole digits {figures['whole_digit_accuracy']:.4f}",
            flush=True,
        )
    return out


def _print_split(
    summary: dict[str, Any], dedupe: dict[str, int], attached: int, extra: int, synthetic: int
) -> None:
    print(
        f"real crops: {dedupe['files']} files, {dedupe['copies_removed']} byte-identical copies removed "
        f"({dedupe['label_conflicts_kept']} copy groups with neighbouring labels averaged, "
        f"{dedupe['label_conflicts_dropped']} with conflicting labels dropped); "
        f"{attached} unnamed crops joined the wheel they duplicate",
        flush=True,
    )
    for name, counts in summary.items():
        print(
            f"  {name:<10} {counts['crops']:>6} crops ({counts['whole_digit_crops']} whole digits) "
            f"from {counts['prefixes']} prefixes"
            + (f", {counts['unnamed_crops']} unnamed" if name == "train" else ""),
            flush=True,
        )
    print(f"  + {extra} extra crops, {synthetic} synthetic crops in training", flush=True)


def error_rates(history: History) -> dict[str, list[float]]:
    """Validation error rates per epoch (1 - accuracy, floored for the log scale)."""
    return {
        f"validation: {label}": [max(1.0 - value, 1e-4) for value in history[key]]
        for key, label in (
            ("val_whole_digit_accuracy", "whole digit misread"),
            ("val_within_0_5", "off by more than 0.5"),
            ("val_within_0_1", "off by more than 0.1"),
        )
    }


# The training curve: loss and validation error rates per epoch, both on a log scale.
CURVE = Curve(
    loss_label="cross-entropy (soft labels)",
    measures=error_rates,
    measures_label="error rate (1 - accuracy)",
    log_measures=True,  # 5% -> 2% matters as much as 50% -> 20%
)


# --- Evaluation --------------------------------------------------------------------------------


def evaluate_reader(
    model_dir: Path,
    data: Path | None = None,
    cache: Path = DEFAULT_CACHE,
    folder: Path | None = None,
    synthetic: int = 1000,
    progress: bool = False,
    *,
    predict: Callable[[np.ndarray], np.ndarray] | None = None,
) -> dict[str, Any]:
    """Held-out figures of a model directory: the real test split (or every crop in `folder`),
    and `synthetic` freshly rendered whole-digit crops (a check on wheels unlike the real data).
    `predict`: the model directory's reader already loaded (a batch -> probabilities function
    taking any batch size); loaded and compiled here when None.

    Returns test_* figures (whole-digit accuracy, within +/-0.1 and +/-0.5, MAE in tenths,
    counts, the commonest whole-digit misreadings) and synthetic_whole_digit_accuracy.
    """
    if predict is None:
        configure_tensorflow()
        _, predict = load_compiled(model_dir, 512)
    split_facts: dict[str, Any] = {}
    if folder is not None:
        crops = load_extra([folder])
        pixels, labels = read_pixels(crops, progress, "read crops"), labels_of(crops)
        source = f"every labelled crop in {folder} ({len(crops)} after de-duplication)"
    elif data is not None:
        real = load_real(data, cache, progress)
        test = real.splits["test"]
        pixels, labels = test.pixels, test.labels
        source = f"held-out test split of {data.name} ({len(test)} crops, wheels never trained on)"
        split_facts = {
            "test_prefixes": real.summary["test"]["prefixes"],
            "test_nearest_train_rms_min": real.summary["test"].get("nearest_train_rms_min"),
        }
    else:
        raise ValueError("give data (the real crops) or folder")
    inputs = reader_input(pixels)
    started = time.perf_counter()
    positions, confidences = read_positions(predict, inputs)
    batched_ms = (time.perf_counter() - started) * 1000 / max(1, len(inputs))
    figures = score_positions(positions, labels)
    whole = labels % 10 == 0
    digits = np.floor(positions + 0.5).astype(int) % 10
    misread = Counter(
        f"{truth}->{read}"
        for truth, read in zip(labels[whole] // 10, digits[whole], strict=True)
        if truth != read
    )
    metrics: dict[str, Any] = {f"test_{key}": _rounded(value) for key, value in figures.items()}
    metrics["test_whole_digit_errors"] = sum(misread.values())
    metrics["test_whole_digit_misreadings"] = [f"{pair}: {n}" for pair, n in misread.most_common(10)]
    metrics["test_mean_confidence"] = round(float(confidences.mean()), 4) if len(confidences) else math.nan
    # A wheel's confidence is the mass within half a digit of its position: it claims the wheel
    # shows that digit or the roll into its neighbour, right when the label is within 0.5.
    within_half = circular_distance(positions, labels / 10) <= 0.5 + 1e-6
    metrics["test_confidence_ece"] = round(expected_calibration_error(confidences, within_half), 4)
    metrics["test_data"] = source
    metrics.update(split_facts)
    if synthetic and synthetic_available():
        synth_pixels, synth_labels = synthetic_crops(synthetic, SYNTHETIC_EVAL_SEED, whole_share=1.0)
        synth_positions, _ = read_positions(predict, reader_input(synth_pixels))
        synth = score_positions(synth_positions, synth_labels)
        metrics["synthetic_whole_digit_accuracy"] = round(synth["whole_digit_accuracy"], 4)
        metrics["synthetic_data"] = f"{synthetic} rendered whole-digit wheels, seed {SYNTHETIC_EVAL_SEED}"
    metrics["inference_ms_per_crop_batched"] = round(batched_ms, 4)
    return metrics


def _rounded(value: float | int) -> float | int:
    return round(value, 4) if isinstance(value, float) else value


def run_evaluate(args: argparse.Namespace, argv: list[str] | None = None) -> dict[str, Any]:
    card = read_card(args.model_dir)
    metrics = evaluate_reader(
        args.model_dir, args.data, args.cache, args.folder, args.synthetic_eval, not args.quiet
    )
    metrics["evaluated_with"] = shlex.join(
        ["python", "-m", "meter_service.cli", "train-reader", *(argv or [])]
    )
    metrics["evaluated_at"] = date.today().isoformat()
    print(f"{card.name} {card.version} on {metrics['test_data']}")
    print(
        f"  whole-digit accuracy {metrics['test_whole_digit_accuracy']:.4f} "
        f"({metrics['test_whole_digit_errors']} wrong of {metrics['test_whole_digit_crops']})"
    )
    print(f"  within +/-0.1 {metrics['test_within_0_1']:.4f}, within +/-0.5 {metrics['test_within_0_5']:.4f}")
    print(f"  mean absolute error {metrics['test_mae_tenths']:.3f} tenths over {metrics['test_crops']} crops")
    if metrics["test_whole_digit_misreadings"]:
        print(
            "  whole digits misread (true->read: times): "
            + ", ".join(metrics["test_whole_digit_misreadings"])
        )
    if "synthetic_whole_digit_accuracy" in metrics:
        print(
            f"  synthetic whole digits ({metrics['synthetic_data']}): "
            f"{metrics['synthetic_whole_digit_accuracy']:.4f}"
        )
    print(f"  inference {metrics['inference_ms_per_crop_batched']:.3f} ms/crop in batches")
    if args.write_card:
        if args.folder is not None:  # the card's test_* figures are the held-out split's
            metrics = {f"folder_{key}": value for key, value in metrics.items()}
        update_card_metrics(args.model_dir, metrics)
        print(f"  wrote the figures into {args.model_dir / CARD_FILE}")
    return metrics


# --- Command line ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Train (default) or --evaluate the meter wheel reader.",
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="meterdigits.tar.gz or its unpacked folder"
    )
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the archive is unpacked")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_MODELS, help="models folder (default: %(default)s)"
    )
    parser.add_argument(
        "--name",
        default=DEFAULT_NAME,
        help="the model's name, as clients choose it (model=...), and its folder under --out "
        "(default: %(default)s; a retrained model beside the shipped one needs another)",
    )
    parser.add_argument("--model-version", default=MODEL_VERSION)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--label-sigma", type=float, default=LABEL_SIGMA, help="soft-label spread, tenths")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--members",
        type=int,
        default=MEMBERS,
        help="readers trained (seeds --seed, --seed + 1, ...) and averaged into one model "
        "(default: %(default)s; each costs one training and its share of the reading time)",
    )
    parser.add_argument(
        "--extra", type=Path, action="append", help="a folder of your own crops, <label>/<file> (repeatable)"
    )
    parser.add_argument("--synthetic", type=int, default=SYNTHETIC, help="rendered crops added to training")
    parser.add_argument(
        "--window-photos",
        type=int,
        default=WINDOW_PHOTOS,
        help="generated meter photos whose wheels, cut as the service cuts them, train too (0: none)",
    )
    parser.add_argument(
        "--window-crops", type=int, default=WINDOW_CROPS, help="generated window crops cut likewise"
    )
    parser.add_argument(
        "--window-seed", type=int, default=WINDOW_SEED, help="their seed (never the evaluation's 2026)"
    )
    parser.add_argument(
        "--fit-validation",
        action="store_true",
        help="train on the validation split's crops too and keep the last epoch: for the final "
        "reader once a recipe is chosen (its validation figures and the evaluation's strips "
        "composed from that split then measure nothing; the test split stays held out)",
    )
    parser.add_argument("--evaluate", action="store_true", help="measure --model-dir instead of training")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--folder", type=Path, help="evaluate every crop in this <label>/<file> folder")
    parser.add_argument("--synthetic-eval", type=int, default=1000, help="rendered crops to evaluate on")
    parser.add_argument("--write-card", action="store_true", help="record the evaluation in the card")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.members < 1:
        parser.error(f"--members must be at least 1, got {args.members}")
    return args


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv, prog)
    if args.evaluate:
        run_evaluate(args, argv)
    else:
        train(args, argv)
