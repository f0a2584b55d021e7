"""Train a digit classifier and write it as a servable model directory.

    python -m digit_service.cli train --model cnn --epochs 25

reads MNIST (or a folder of labelled images), holds out a validation set, trains with the
model's recipe, keeps the epoch with the best validation accuracy, and writes::

    <out>/<model>/model.keras           the best weights, without optimizer state (small, servable)
    <out>/<model>/card.json             name, version, classes, training data and recipe
    <out>/<model>/history.json          per-epoch loss, accuracy, learning rate and seconds
    <out>/<model>/training_curve.png    the same, plotted

The test split is not touched here: measure it with `python -m digit_service.cli evaluate
--write-card`, which adds the figures to the card.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from digit_service.training import rendered
from digit_service.training.architectures import ARCHITECTURES, DESCRIPTIONS, INPUT_SHAPE
from digit_service.training.data import (
    CLASSES,
    VALIDATION_SAMPLES,
    Augmentation,
    DataSet,
    load_dataset,
    make_pipeline,
    sha256_of,
    split_validation,
)
from recognition_common.artifacts import (
    Curve,
    TrainingRun,
    save_training_artifacts,
    servable_copy,
    train_and_validation,
)
from recognition_common.serving.model_card import ModelCard, check_model_name

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_DATA = (REPO_ROOT / ".." / "shared" / "data" / "mnist.npz").resolve()
DEFAULT_OUT = REPO_ROOT / "digit-service" / "models"
MODEL_VERSION = "2.1.0"  # 2.1.0: 8x8 thumbnails (styles.coarse8) among the training styles


@dataclass(frozen=True)
class Recipe:
    """How one architecture is trained; the CLI can override epochs and batch size."""

    description: str
    epochs: int
    batch_size: int
    peak_learning_rate: float
    augmentation: Augmentation | None
    warmup_epochs: int = 1
    # MNIST is rendered in the served styles plus this share of junk (`training.rendered`); an
    # own image folder is taken as it is.
    junk_share: float = 0.1


RECIPES: dict[str, Recipe] = {
    # LeNet-5 is small enough that heavy augmentation costs accuracy; a light touch adds ~0.2 pt.
    "lenet5": Recipe(
        description="Classic LeNet-5 (ReLU, max-pooling): a small, fast MNIST digit classifier.",
        epochs=12,
        batch_size=128,
        peak_learning_rate=1e-3,
        augmentation=Augmentation(rotation_degrees=8.0, zoom=0.08, translation=0.08),
    ),
    "cnn": Recipe(
        description=(
            "Batch-normalised 4-convolution CNN trained with augmentation: the accurate "
            "MNIST digit classifier."
        ),
        epochs=10,
        batch_size=128,
        peak_learning_rate=2e-3,
        augmentation=Augmentation(rotation_degrees=10.0, zoom=0.1, translation=0.1),
    ),
}


def parse_args(argv: list[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Train a digit classifier and write <out>/<name>/{model.keras,card.json}.",
    )
    parser.add_argument("--model", choices=sorted(ARCHITECTURES), required=True, help="the architecture")
    parser.add_argument(
        "--name",
        help="the model's name, as clients choose it (model=...) and its folder under --out; "
        "default: the architecture's (a retrained model beside the shipped one needs another)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="MNIST-layout .npz or folder <root>/<0-9>/*.png (default: %(default)s)",
    )
    parser.add_argument("--epochs", type=int, help="default: the model's recipe")
    parser.add_argument("--batch-size", type=int, help="default: the model's recipe")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: %(default)s")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--pair-share",
        type=float,
        default=0.0,
        help="MNIST: add this share (0-1) of touching digit pairs as junk, so the model calls a "
        "pair no digit and the split reading wins (default 0: measured on cnn, it costs MNIST "
        "through the pipeline 0.07-0.2 points; see the service's README)",
    )
    parser.add_argument(
        "--handwriting-share",
        type=float,
        default=0.0,
        help="MNIST: redraw this share (0-1) of the styled training copies in another hand first "
        "(elastic distortion, narrower or wider; default 0: measured on cnn at 0.5, real UCI 8x8 "
        "digits +0.8 points but a small thick-pen 5 read as 8; see the service's README)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        help="train on only the first N training images (smoke tests; not for real models)",
    )
    args = parser.parse_args(argv)
    for option, share in (("--pair-share", args.pair_share), ("--handwriting-share", args.handwriting_share)):
        if not 0.0 <= share <= 1.0:
            parser.error(f"{option} must be between 0 and 1, not {share:g}")
    return args


# --- Data ------------------------------------------------------------------------------------


def load_training_data(path: Path, seed: int) -> tuple[DataSet, DataSet, dict[str, Any]]:
    """Train/validation split plus the card's `training_data` entry.

    MNIST: the last 5,000 of its 60,000 training images validate. A folder of own images is
    shuffled once (with `seed`) and its last 10% validate.
    """
    data, _test = load_dataset(path)  # the test split is for evaluate.py only
    classes = sorted({int(label) for label in data.y})
    if len(classes) < 2:
        raise ValueError(
            f"{path} has images of one digit only ({classes[0]}): a classifier needs at least two; "
            "put each digit's images in its own folder <root>/<0-9>/"
        )
    if path.is_dir():
        order = np.random.default_rng(seed).permutation(len(data.y))
        data = DataSet(data.x[order], data.y[order])
        validation_samples = max(1, len(data.y) // 10)
        name = path.name
    else:
        validation_samples = VALIDATION_SAMPLES
        name = "MNIST" if "mnist" in path.name.lower() else path.stem
    train, validation = split_validation(data, validation_samples)
    info = {
        "name": name,
        "file": path.name,
        "sha256": sha256_of(path),
        "train_samples": len(train.y),
        "validation_samples": len(validation.y),
    }
    return train, validation, info


def render(
    data: DataSet, seed: int, junk_share: float, pair_share: float = 0.0, handwriting_share: float = 0.0
) -> DataSet:
    """MNIST images (model layout) -> the rendered set of `training.rendered`, soft targets."""
    images = np.round(data.x[..., 0] * 255).astype(np.uint8)
    x, y = rendered.render_training_set(
        images,
        data.y,
        seed,
        junk_share=junk_share,
        pair_share=pair_share,
        handwriting_share=handwriting_share,
    )
    return DataSet(x, rendered.soft_targets(y))


def with_soft_targets(data: DataSet) -> DataSet:
    """Integer labels -> one-hot targets, which the loss takes (rendered sets already have them)."""
    return data if data.y.ndim == 2 else DataSet(data.x, rendered.soft_targets(data.y))


# --- Model -----------------------------------------------------------------------------------


def compile_model(model: keras.Model, recipe: Recipe, steps_per_epoch: int, epochs: int) -> None:
    """Adam with a linear warm-up then cosine decay to zero over the whole run.

    Annealing to zero makes the last epochs the best ones, so there is no early stopping: the
    checkpoint with the best validation accuracy is kept instead.
    """
    warmup_steps = recipe.warmup_epochs * steps_per_epoch
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=recipe.peak_learning_rate / 10,
        warmup_target=recipe.peak_learning_rate,
        warmup_steps=warmup_steps,
        decay_steps=max(1, epochs * steps_per_epoch - warmup_steps),
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=schedule),
        loss=keras.losses.CategoricalCrossentropy(),  # soft targets: junk is an even spread
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )


class EpochTimer(keras.callbacks.Callback):
    """Record each epoch's wall-clock seconds and learning rate into the logs (and history)."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            logs["seconds"] = time.perf_counter() - self._started
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


# --- Outputs ---------------------------------------------------------------------------------


# The training curve: loss and accuracy per epoch, training against validation, side by side.
CURVE = Curve(
    loss_label="loss",
    measures=lambda history: train_and_validation(history, "accuracy"),
    measures_label="accuracy",
    measures_top=1.0,
)


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv, prog)
    recipe = RECIPES[args.model]
    name = check_model_name(args.name or args.model)
    epochs = args.epochs or recipe.epochs
    batch_size = args.batch_size or recipe.batch_size
    keras.utils.set_random_seed(args.seed)

    # Data
    train, validation, training_data = load_training_data(args.data, args.seed)
    if args.limit:
        train = DataSet(train.x[: args.limit], train.y[: args.limit])
        training_data["train_samples"] = len(train.y)
    training_data["augmentation"] = recipe.augmentation.describe() if recipe.augmentation else "none"
    if args.data.is_file():  # MNIST: as the service will see it, in every style, and junk
        started = time.perf_counter()
        train = render(train, args.seed, recipe.junk_share, args.pair_share, args.handwriting_share)
        validation = render(validation, args.seed + 1, 0.0)
        training_data["rendered"] = rendered.describe(
            recipe.junk_share, args.pair_share, args.handwriting_share
        )
        training_data["rendered_samples"] = {"train": len(train.y), "validation": len(validation.y)}
        print(f"rendered the training styles in {time.perf_counter() - started:.0f} s")
    train, validation = with_soft_targets(train), with_soft_targets(validation)
    train_ds = make_pipeline(
        train, batch_size, training=True, augmentation=recipe.augmentation, seed=args.seed
    )
    validation_ds = make_pipeline(validation, 1024)
    print(f"train {len(train.y)}, validation {len(validation.y)} images from {args.data}")

    # Model
    build = ARCHITECTURES[args.model]
    model = build()
    model.summary()
    steps_per_epoch = int(np.ceil(len(train.y) / batch_size))
    compile_model(model, recipe, steps_per_epoch, epochs)

    # Train, keeping the best epoch on validation accuracy
    model_dir = args.out / name
    model_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        best_weights = Path(scratch) / "best.weights.h5"
        started = time.perf_counter()
        history = model.fit(
            train_ds,
            epochs=epochs,
            validation_data=validation_ds,
            callbacks=[
                EpochTimer(),
                keras.callbacks.ModelCheckpoint(
                    best_weights,
                    monitor="val_accuracy",
                    mode="max",
                    save_best_only=True,
                    save_weights_only=True,
                ),
            ],
            shuffle=False,  # the pipeline shuffles
            verbose=1 if sys.stdout.isatty() else 2,
        ).history
        training_seconds = time.perf_counter() - started
        model.load_weights(best_weights)
    servable = servable_copy(build, model.get_weights())

    best_epoch = int(np.argmax(history["val_accuracy"])) + 1
    best_val_accuracy = float(history["val_accuracy"][best_epoch - 1])
    print(
        f"best epoch {best_epoch}/{epochs}: val_accuracy {best_val_accuracy:.4f}; "
        f"{training_seconds:.0f} s in all, {np.mean(history['seconds']):.1f} s/epoch"
    )

    # Outputs
    card = ModelCard(
        name=name,
        version=MODEL_VERSION,
        task="digit",
        description=recipe.description,
        classes=CLASSES,
        input_shape=list(INPUT_SHAPE),
        training_data=training_data,
        metrics={"validation_accuracy": round(best_val_accuracy, 4)},
        created=date.today().isoformat(),
        architecture=DESCRIPTIONS[args.model],
        params=int(model.count_params()),
        epochs=epochs,
        best_epoch=best_epoch,
        batch_size=batch_size,
        optimizer=(
            f"Adam, {recipe.warmup_epochs}-epoch linear warm-up to {recipe.peak_learning_rate:g} "
            "then cosine decay to 0; categorical cross-entropy on soft targets (junk: even)"
        ),
        seed=args.seed,
        training_seconds=round(training_seconds),
        framework={"keras": keras.__version__, "tensorflow": tf.__version__},
        trained_with=shlex.join(["python", "-m", "digit_service.cli", "train", *argv]),
    )
    outcome = TrainingRun(history, best_epoch, training_seconds, {"best_val_accuracy": best_val_accuracy})
    files = save_training_artifacts(model_dir, servable, card, outcome, CURVE, args.model)
    print(f"wrote {files}")
