"""Measure a trained digit model on held-out data, and optionally record the figures in its card.

    python -m digit_service.cli evaluate --model-dir digit-service/models/cnn --write-card

On an MNIST `.npz` it scores the 10,000 test images (never used in training or model selection);
on a folder `<root>/<0-9>/*.png` it scores every image. It prints overall and per-class accuracy,
the confusion matrix, the most frequent confusions and the time per image. On MNIST it then
measures the whole pipeline a user gets (`pipeline_eval`: MNIST test as uploads, each rendered
style, rows, touching pairs, junk; read right, refused, ECE), and with `--calibrate` first fits the softmax
temperature on the validation tail of the training images and prints what each rejection
threshold would refuse there.

Inference runs through one compiled `tf.function` with a fixed input signature, in batches of
256, the way the service runs it, rather than `model.predict` (whose per-call overhead and
callbacks would distort the timing).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from digit_service import styles
from digit_service.config import DigitSettings
from digit_service.recognizer import calibrated
from digit_service.training import pipeline_eval
from digit_service.training.architectures import INPUT_SHAPE
from digit_service.training.data import CLASSES, NUM_CLASSES, VALIDATION_SAMPLES, DataSet, load_dataset
from digit_service.training.train import DEFAULT_DATA
from recognition_common.serving.model_card import (
    MODEL_FILE,
    ModelCard,
    read_card,
    update_card_metrics,
    write_card,
)

BATCH_SIZE = 256


def parse_args(argv: list[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Evaluate <model-dir>/model.keras on MNIST's test split or an image folder.",
    )
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="MNIST-layout .npz (test split) or folder <root>/<0-9>/*.png (default: %(default)s)",
    )
    parser.add_argument(
        "--write-card", action="store_true", help="merge the figures into <model-dir>/card.json"
    )
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument(
        "--per-style",
        type=int,
        default=500,
        help="MNIST .npz: images per rendered style, rows and junk kind for the whole-pipeline "
        "figures (default: %(default)s); a folder: its images through the whole pipeline too; "
        "0 measures the model only",
    )
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="MNIST .npz: fit the softmax temperature on the validation tail of the training "
        "images through the pipeline (never the test split), print the refusal table the "
        "DIGIT_MIN_CONFIDENCE default is chosen from, and record it (with --write-card)",
    )
    parser.add_argument(
        "--min-confidence",
        type=float,
        default=DigitSettings().min_confidence,
        help="the rejection threshold to measure the pipeline at (default: the service's, %(default)s)",
    )
    return parser.parse_args(argv)


def load_evaluation_data(path: Path) -> DataSet:
    """MNIST's test split, or every image of a folder."""
    first, test = load_dataset(path)
    return first if test is None else test


def predict(model: keras.Model, x: np.ndarray, batch_size: int) -> tuple[np.ndarray, float]:
    """Class probabilities for `x`, and the seconds the timed pass took.

    The function is traced once on a warm-up batch, so the timed pass measures inference only.
    """
    infer = tf.function(
        lambda images: model(images, training=False),
        input_signature=[tf.TensorSpec([None, *x.shape[1:]], tf.float32)],
        jit_compile=False,
    )
    infer(tf.constant(x[:batch_size]))  # trace and warm up
    started = time.perf_counter()
    probabilities = [
        infer(tf.constant(x[start : start + batch_size])).numpy() for start in range(0, len(x), batch_size)
    ]
    return np.concatenate(probabilities), time.perf_counter() - started


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """counts[true, predicted] over the ten classes."""
    counts = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(counts, (truth, predicted), 1)
    return counts


def print_report(counts: np.ndarray, seconds: float, batch_size: int) -> None:
    total = int(counts.sum())
    correct = int(np.trace(counts))
    print(f"\naccuracy: {correct / total:.4%} ({correct}/{total}), error {total - correct} images")

    print("\nper-class accuracy:")
    for label, row in zip(CLASSES, counts, strict=True):
        print(f"  {label}: {row[int(label)] / max(1, row.sum()):.4%} ({row.sum()} images)")

    print("\nconfusion matrix (rows: true class, columns: predicted):")
    print("      " + "".join(f"{label:>6}" for label in CLASSES))
    for label, row in zip(CLASSES, counts, strict=True):
        print(f"{label:>6}" + "".join(f"{count:>6}" for count in row))

    errors = counts.copy()
    np.fill_diagonal(errors, 0)
    order = np.argsort(errors, axis=None, kind="stable")[::-1][:10]
    print("\nmost frequent confusions (true -> predicted):")
    for true, predicted in zip(*np.unravel_index(order, errors.shape), strict=True):
        if errors[true, predicted]:
            print(f"  {true} -> {predicted}: {errors[true, predicted]}")

    print(
        f"\ninference: {seconds / total * 1e3:.3f} ms/image "
        f"({seconds:.2f} s for {total} images, tf.function, batch {batch_size})"
    )


def card_metrics(counts: np.ndarray, data_path: Path, from_npz: bool, argv: list[str]) -> dict[str, Any]:
    """The figures `--write-card` merges into the card's `metrics`."""
    accuracy = float(np.trace(counts) / counts.sum())
    if not from_npz:  # an own image folder: keep MNIST's figures and add these beside them
        return {
            "accuracy": round(accuracy, 5),
            "data": str(data_path),
            "samples": int(counts.sum()),
        }
    per_class = np.diag(counts) / np.maximum(1, counts.sum(axis=1))
    return {
        "mnist_test_accuracy": round(accuracy, 5),
        "test_samples": int(counts.sum()),
        "per_class_accuracy": {
            label: round(float(value), 5) for label, value in zip(CLASSES, per_class, strict=True)
        },
        "evaluated_with": shlex.join(["python", "-m", "digit_service.cli", "evaluate", *argv]),
        "evaluated_at": date.today().isoformat(),
    }


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv, prog)

    data = load_evaluation_data(args.data)
    model = keras.saving.load_model(args.model_dir / MODEL_FILE)
    print(f"{args.model_dir / MODEL_FILE}: {model.count_params()} parameters")
    print(f"evaluating on {len(data.y)} images from {args.data}")

    probabilities, seconds = predict(model, data.x, args.batch_size)
    counts = confusion_matrix(data.y, probabilities.argmax(axis=1))
    print_report(counts, seconds, args.batch_size)

    metrics = card_metrics(counts, args.data, args.data.is_file(), argv)
    if args.data.is_file() and (args.calibrate or args.per_style):
        with np.load(args.data) as arrays:
            x_train, y_train, x_test, y_test = (
                arrays[key] for key in ("x_train", "y_train", "x_test", "y_test")
            )
        card, forward, pairs = served_as(args.model_dir, model)
        if args.calibrate:
            cut = len(y_train) - VALIDATION_SAMPLES  # the held-out tail train.py validates on
            validation = (x_train[cut:], y_train[cut:])
            card = calibrate(
                args.model_dir, card, forward, validation, args.per_style or 500, args.write_card, pairs
            )
        if args.per_style:
            sets = pipeline_eval.build_cases(x_test, y_test, seed=2026, per_style=args.per_style)
            table = pipeline_eval.figures(
                {
                    name: pipeline_eval.read_all(cases, card, forward, args.min_confidence, pairs)
                    for name, cases in sets.items()
                }
            )
            pipeline_eval.print_figures(table, args.min_confidence)
            metrics["pipeline"] = {
                "min_confidence": args.min_confidence,
                "per_style": args.per_style,
                **table,
            }

    if args.data.is_dir() and args.per_style:
        # The folder's images as uploads, through what the service runs for them.
        card, forward, pairs = served_as(args.model_dir, model)
        cases = pipeline_eval.folder_cases(args.data)
        outcomes = pipeline_eval.read_all(cases, card, forward, args.min_confidence, pairs)
        table = pipeline_eval.figures({"folder": outcomes})
        pipeline_eval.print_figures(table, args.min_confidence)
        metrics["folder_pipeline"] = {"min_confidence": args.min_confidence, **table["folder"]}

    if args.write_card:
        update_card_metrics(args.model_dir, metrics)
        print(f"\nwrote metrics to {args.model_dir / 'card.json'}")


def served_as(
    model_dir: Path, model: keras.Model
) -> tuple[ModelCard, pipeline_eval.PredictFn, pipeline_eval.PredictFn | None]:
    """What the whole pipeline needs to read as the service does: the card, the compiled model
    and its pair detector (None when the card lists none)."""
    card = read_card(model_dir)
    return card, compiled(model), pipeline_eval.load_pairs(model_dir, card)


def compiled(model: keras.Model) -> pipeline_eval.PredictFn:
    """The model as one traced function over any batch size, as the service runs it."""
    forward = tf.function(
        lambda images: model(images, training=False),
        input_signature=[tf.TensorSpec([None, *INPUT_SHAPE], tf.float32)],
    )
    return lambda batch: forward(tf.constant(batch, dtype=tf.float32)).numpy()


THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def calibrate(
    model_dir: Path,
    card: ModelCard,
    predict: pipeline_eval.PredictFn,
    validation: tuple[np.ndarray, np.ndarray],
    per_style: int,
    write: bool,
    pairs: pipeline_eval.PredictFn | None = None,
) -> ModelCard:
    """Fit the temperature on validation images through the pipeline; print what each
    DIGIT_MIN_CONFIDENCE would refuse there (MNIST, the rendered styles, junk)."""
    x, y = validation
    card = card.model_copy(update={"calibration": None})
    sets = pipeline_eval.build_cases(x, y, seed=7, per_style=per_style)
    outcomes = {
        name: pipeline_eval.read_all(cases, card, predict, 0.0, pairs) for name, cases in sets.items()
    }
    digits = [
        o
        for name, group in outcomes.items()
        if name not in pipeline_eval.MULTI_DIGIT_SETS + pipeline_eval.KNOWN_LIMITS
        and not name.startswith("junk")
        for o in group
    ]
    probabilities, labels = pipeline_eval.single_digits(digits)
    temperature = pipeline_eval.fit_temperature(probabilities, labels)
    before = pipeline_eval.calibration_error(probabilities, labels, 1.0)
    after = pipeline_eval.calibration_error(probabilities, labels, temperature)
    print(
        f"\ncalibration on {len(labels)} validation digits (MNIST's last {len(y)} training images, "
        f"as uploaded and in every style): temperature {temperature:g}, ECE {before:.4f} -> {after:.4f}"
    )
    print("refused at each DIGIT_MIN_CONFIDENCE (validation images):")
    print(f"  {'threshold':>9}{'MNIST':>9}{'styles':>9}{'junk':>9}")
    mnist_top = _top(outcomes["mnist"], temperature)
    styled_top = _top([o for name in styles.STYLES if name != "clean" for o in outcomes[name]], temperature)
    junk_top = _top(
        [o for name, group in outcomes.items() if name.startswith("junk") for o in group], temperature
    )
    for threshold in THRESHOLDS:
        print(
            f"  {threshold:>9g}{np.mean(mnist_top < threshold):>9.2%}{np.mean(styled_top < threshold):>9.2%}"
            f"{np.mean(junk_top < threshold):>9.2%}"
        )
    calibration = {
        "temperature": temperature,
        "fitted_on": (
            f"{len(labels)} validation digits through the pipeline "
            "(the last 5,000 MNIST training images, as uploaded and in every rendered style)"
        ),
        "validation_ece_before": round(before, 4),
        "validation_ece_after": round(after, 4),
    }
    card = card.model_copy(update={"calibration": calibration})
    if write:
        write_card(model_dir, card)
        print(f"wrote the calibration to {model_dir / 'card.json'}")
    return card


def _top(outcomes: list[pipeline_eval.Outcome], temperature: float) -> np.ndarray:
    """Each answer's lowest calibrated digit confidence; 0 for an image refused as empty."""
    return np.asarray(
        [
            min(float(calibrated(np.stack(o.raw), temperature).max(axis=1).min()), 1.0) if o.raw else 0.0
            for o in outcomes
        ]
    )
