"""Train a CRNN-CTC captcha reader and write it as a servable model directory.

    python -m captcha_service.cli train --data my-captchas/          # a folder of real captchas
    python -m captcha_service.cli train --preset default             # the shipped model's recipe

From a folder the charset, the length range and the input size come from the images and their
labels, training starts from the shipped model that reads most of the charset (`--from auto`), and
a tenth of the images is held out for the final test, a tenth of the rest validates. Every
epoch prints train and validation character and whole-captcha accuracy and checkpoints
(`--resume` continues). The schedule is made to leave CTC's all-blank plateau (the model first
learns to say blank everywhere): a warm-up, no learning-rate cut while the model reads nothing,
and a restart from fresh weights if it stays there. Training stops at `--target`, after
`--patience` epochs without progress, or before `--time-limit`. Then the best epoch reads the
held-out test images; at `--min-accuracy` or better it is installed::

    <out>/<name>/model.keras          inference model (image -> per-timestep softmax), best epoch
    <out>/<name>/card.json            charset, lengths, size, training data, recipe, accuracy
    <out>/<name>/history.json         per-epoch loss, accuracies, seconds
    <out>/<name>/training_curve.png   the same, plotted

and below it the same files go to `<checkpoints>/<name>/model/` instead, the served folder is left
alone, and the command says why and exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from captcha_service.card import CaptchaCard
from captcha_service.ctc import BLANK_LABEL, decode_batch
from captcha_service.labels import infer_charset, label_of, resolve_charset
from captcha_service.recognizer import card_charset
from captcha_service.scoring import confusions, score
from captcha_service.synth import CaptchaSpec, generate_arrays
from captcha_service.training.architectures import build_crnn, describe, transfer_weights
from captcha_service.training.augment import Augmentation
from captcha_service.training.data import (
    LabelledSet,
    augmented_pipeline,
    data_info,
    folder_images,
    load_images,
    make_pipeline,
    split_paths,
)
from captcha_service.training.options import DEFAULT_OUT, FALLBACKS, PRESETS, add_train_arguments
from captcha_service.training.sizing import choose_input_size, image_sizes
from recognition_common.artifacts import Curve, TrainingRun, save_training_artifacts
from recognition_common.serving.model_card import MODEL_FILE, ModelCard, check_model_name, read_card

# The training curve: CTC loss, and char / whole-captcha accuracy, training against validation.
CURVE = Curve(
    loss_label="CTC loss",
    measures=lambda history: {
        "train char": history["char_accuracy"],
        "train whole": history["whole_accuracy"],
        "validation char": history["val_char_accuracy"],
        "validation whole": history["val_whole_accuracy"],
    },
    measures_label="accuracy",
    measures_top=1.0,
)
TRAIN_SCORE_SAMPLES = 1000  # training accuracy is measured on this many training samples
MIN_STEPS_PER_EPOCH = 60  # a small folder's epoch still trains this many batches (augmented)
FOLDER_EPOCHS = 200
FOLDER_TIME_LIMIT_MINUTES = 15.0
WARMUP_STEPS = 100  # learning rate rises linearly from a tenth over the first steps
STUCK_CHAR_ACCURACY = 0.1  # below this validation char accuracy the model reads (almost) nothing
RESTART_AFTER_STUCK_STEPS = 600  # batches; epochs of a small folder can be a few batches
MAX_RESTARTS = 2


def _settle(args: argparse.Namespace) -> dict[str, Any]:
    """Command-line flags over the preset over the fallbacks; a user's mistake is a ValueError."""
    name = args.name or args.preset or (args.data.resolve().name if args.data is not None else None)
    if not name:
        raise ValueError("give --data FOLDER (or --generate N with --name, or a --preset)")
    check_model_name(name)
    preset = PRESETS.get(args.preset or "", {})
    settled = {key: preset.get(key, value) for key, value in FALLBACKS.items()}
    for key in ("charset", "min_length", "max_length", "width", "height", "generate", "epochs", "target"):
        if getattr(args, key) is not None:
            settled[key] = getattr(args, key)
    if args.data is not None:
        settled["generate"] = 0
    if not settled["generate"] and args.data is None:
        raise ValueError("give --data FOLDER or --generate N (or a --preset)")
    for flag in ("min_length", "max_length", "width", "height", "epochs", "batch_size", "patience"):
        value = getattr(args, flag, None) if flag in ("batch_size", "patience") else settled[flag]
        if value is not None and value < 1:
            raise ValueError(f"--{flag.replace('_', '-')} must be at least 1, not {value}")
    if settled["min_length"] and settled["max_length"] and settled["min_length"] > settled["max_length"]:
        raise ValueError(
            f"--min-length {settled['min_length']} is above --max-length {settled['max_length']}"
        )
    if not 0.0 <= args.min_accuracy <= 1.0:
        raise ValueError(f"--min-accuracy {args.min_accuracy:g}: a fraction between 0 and 1 (0.5 is half)")
    folder = args.data is not None
    settled["epochs"] = settled["epochs"] or (FOLDER_EPOCHS if folder else 10)
    settled["batch_size"] = args.batch_size or (32 if folder else 64)
    # Off unless asked: on the stand-in folders it never raised accuracy and slowed learning
    # (README, "What mattered").
    settled["augment"] = bool(args.augment)
    limit = (
        args.time_limit if args.time_limit is not None else (FOLDER_TIME_LIMIT_MINUTES if folder else None)
    )
    settled["time_limit_s"] = limit * 60 if limit else None
    settled["name"] = name
    return settled


def source_model_dir(value: str, out: Path) -> Path:
    """`--from`: a model folder, or the name of one under --out or the shipped models."""
    for candidate in (Path(value), out / value, DEFAULT_OUT / value):
        if (candidate / MODEL_FILE).is_file():
            return candidate
    raise FileNotFoundError(f"--from {value}: no model folder (with {MODEL_FILE}) of that name or path")


def closest_shipped_model(charset: str) -> Path | None:
    """`--from auto`: the shipped model that reads the most of `charset`'s characters.

    Starting from trained features is what lets a few hundred images be enough: on 1,400 ruled
    captchas the model left the all-blank plateau after 4 epochs instead of more than 10.
    """
    best: tuple[int, str, Path] | None = None
    for model_dir in sorted(DEFAULT_OUT.iterdir()) if DEFAULT_OUT.is_dir() else []:
        if not (model_dir / MODEL_FILE).is_file():
            continue
        card = read_card(model_dir, CaptchaCard)
        if card.task != "captcha" or card.resize != "stretch":
            continue  # the shipped, generated-captcha models only
        shared = len(set(charset) & set(card_charset(card)))
        if best is None or (shared, model_dir.name == "default") > (best[0], best[1] == "default"):
            best = (shared, model_dir.name, model_dir)
    return best[2] if best and best[0] else None


def resolve_source(value: str | None, charset: str, out: Path, folder: bool) -> Path | None:
    """The model to fine-tune from: `--from` (a name or folder), `auto` (default with --data) or none."""
    value = value or ("auto" if folder else "none")
    if value == "none":
        return None
    if value == "auto":
        return closest_shipped_model(charset)
    return source_model_dir(value, out)


# --- Loss, scoring, schedule ---------------------------------------------------------------


@keras.saving.register_keras_serializable(package="captcha_service")
def ctc_loss(y_true: Any, y_pred: Any) -> Any:
    """CTC loss of softmax outputs against blank-padded targets (blank = class 0).

    Label lengths are the non-blank counts, so one model learns several lengths. The backend's
    CTC takes logits; log-probabilities are their own log-softmax, so passing them is exact.
    """
    y_true = ops.cast(y_true, "int32")
    label_length = ops.sum(ops.cast(ops.not_equal(y_true, 0), "int32"), axis=-1)
    output_length = ops.ones_like(label_length) * ops.shape(y_pred)[1]
    return ops.ctc_loss(y_true, ops.log(y_pred + 1e-7), label_length, output_length, mask_index=0)


def read_all(model: keras.Model, dataset: tf.data.Dataset, charset: str) -> list[str]:
    return decode_batch(model.predict(dataset, verbose=0), charset)


def epoch_scores(history: dict[str, list[float]]) -> list[tuple[float, float]]:
    """(validation whole, validation char) accuracy per epoch: what the best epoch is chosen by."""
    return list(zip(history.get("val_whole_accuracy", []), history.get("val_char_accuracy", []), strict=True))


class Scorer(keras.callbacks.Callback):
    """After each epoch: decode train and validation samples, log accuracies, checkpoint, maybe stop."""

    def __init__(
        self,
        charset: str,
        train_sample: tuple[tf.data.Dataset, list[str]],
        validation: tuple[tf.data.Dataset, list[str]],
        checkpoint_dir: Path,
        target: float,
        history: dict[str, list[float]],
    ) -> None:
        super().__init__()
        self.charset = charset
        self.train_sample = train_sample
        self.validation = validation
        self.checkpoint_dir = checkpoint_dir
        self.target = target
        self.history = history
        self.best = max(epoch_scores(history), default=(0.0, 0.0))

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._started = time.perf_counter()

    def _score(self, dataset: tf.data.Dataset, truths: list[str]) -> tuple[float, float]:
        result = score(truths, read_all(self.model, dataset, self.charset))
        return result.char_accuracy, result.whole_accuracy

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs if logs is not None else {}
        logs["char_accuracy"], logs["whole_accuracy"] = self._score(*self.train_sample)
        logs["val_char_accuracy"], logs["val_whole_accuracy"] = self._score(*self.validation)
        logs["learning_rate"] = float(ops.convert_to_numpy(self.model.optimizer.learning_rate))
        logs["seconds"] = time.perf_counter() - self._started
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        print(
            f"epoch {epoch + 1}: loss {logs['loss']:.4f} val_loss {logs.get('val_loss', float('nan')):.4f} | "
            f"train char {logs['char_accuracy']:.4f} whole {logs['whole_accuracy']:.4f} | "
            f"validation char {logs['val_char_accuracy']:.4f} whole {logs['val_whole_accuracy']:.4f} | "
            f"lr {logs['learning_rate']:.2g} | {logs['seconds']:.0f} s",
            flush=True,
        )
        # Whole-captcha accuracy first, character accuracy breaking ties (all 0% on the plateau).
        if (logs["val_whole_accuracy"], logs["val_char_accuracy"]) >= self.best:
            self.best = (logs["val_whole_accuracy"], logs["val_char_accuracy"])
            self.model.save_weights(self.checkpoint_dir / "best.weights.h5")
        self.model.save(self.checkpoint_dir / "last.keras")
        state = {"epoch": epoch + 1, "history": self.history}
        (self.checkpoint_dir / "state.json").write_text(json.dumps(state), encoding="utf-8")
        if logs["val_whole_accuracy"] >= self.target:
            print(
                f"validation whole-captcha accuracy reached the target {self.target:g}; stopping", flush=True
            )
            self.model.stop_training = True


class Schedule(keras.callbacks.Callback):
    """The learning rate and when to stop, made to survive CTC's all-blank plateau.

    * warm-up: the rate rises from a tenth over the first WARMUP_STEPS batches (a fresh output
      layer, or one grafted onto trained features, is not shaken apart by full-size first steps);
    * plateau: x0.3 after `patience` epochs without a better validation loss, but never while the
      model is stuck (reads almost nothing: the loss falls slowly there and cutting the rate kept
      small folders on the plateau for good);
    * restart: stuck for RESTART_AFTER_STUCK_STEPS batches and the validation loss no longer
      falling, the weights start again (`fresh`) with a new draw, at most MAX_RESTARTS times;
    * stop: `stop_patience` epochs without a better validation loss or whole-captcha accuracy, or
      when the next epoch would end past the time limit.
    """

    def __init__(
        self,
        history: dict[str, list[float]],
        learning_rate: float,
        patience: int,
        stop_patience: int,
        time_limit_s: float | None,
        fresh: Any,
        warmup: bool,
    ) -> None:
        super().__init__()
        self.history = history
        self.learning_rate = learning_rate
        self.patience = patience
        self.stop_patience = stop_patience
        self.time_limit_s = time_limit_s
        self.fresh = fresh  # restart number -> weights
        self.warmup = warmup
        self.restarts = 0
        self.stuck_epochs = self.stuck_steps = 0
        self.epoch_first_step = 0
        self.best_loss = math.inf
        self.best_whole = -1.0
        self.since_loss = 0
        self.since_any = 0
        self.step = 0
        self.stopped_because = ""

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.started = self.last_epoch_end = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch_first_step = self.step

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.warmup and self.step <= WARMUP_STEPS:
            share = self.step / WARMUP_STEPS
            self.model.optimizer.learning_rate = self.learning_rate * (0.1 + 0.9 * share)
        self.step += 1

    def _restart(self) -> None:
        self.restarts += 1
        self.model.set_weights(self.fresh(self.restarts))
        for variable in self.model.optimizer.variables:
            variable.assign(ops.zeros_like(variable))
        self.model.optimizer.learning_rate = self.learning_rate
        self.step = self.epoch_first_step = 0
        self.stuck_epochs = self.stuck_steps = 0
        self.best_loss = math.inf
        self.since_loss = self.since_any = 0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        # The Scorer's figures of this epoch (it runs first and records them in the history).
        logs = {key: values[-1] for key, values in self.history.items() if values}
        loss = logs.get("val_loss", logs.get("loss", math.inf))
        stuck = logs.get("val_char_accuracy", 1.0) < STUCK_CHAR_ACCURACY
        improved_loss = loss < self.best_loss * 0.995
        improved_whole = logs.get("val_whole_accuracy", 0.0) > self.best_whole
        self.best_loss = min(self.best_loss, loss)
        self.best_whole = max(self.best_whole, logs.get("val_whole_accuracy", 0.0))
        self.since_loss = 0 if improved_loss else self.since_loss + 1
        self.since_any = 0 if improved_loss or improved_whole else self.since_any + 1
        self.stuck_epochs = self.stuck_epochs + 1 if stuck else 0
        self.stuck_steps = self.stuck_steps + self.step - self.epoch_first_step if stuck else 0
        # Stuck and no longer improving: a model slowly leaving the plateau is left to do so.
        collapsed = self.stuck_steps >= RESTART_AFTER_STUCK_STEPS and self.since_loss >= self.patience
        if collapsed and self.restarts < MAX_RESTARTS:
            print(
                f"still reading nothing after {self.stuck_epochs} epochs: restarting from fresh weights",
                flush=True,
            )
            self._restart()
            return
        if not stuck and self.since_loss >= self.patience:
            rate = float(ops.convert_to_numpy(self.model.optimizer.learning_rate))
            if rate > 1.01e-5:
                self.model.optimizer.learning_rate = max(1e-5, rate * 0.3)
                self.since_loss = 0
        if self.since_any >= self.stop_patience:
            self.stopped_because = f"{self.since_any} epochs without a better validation"
            self.model.stop_training = True
        # Wall-clock, scoring and checkpointing included: the limit is what the user waits.
        now = time.perf_counter()
        elapsed, epoch_seconds = now - self.started, now - self.last_epoch_end
        self.last_epoch_end = now
        if self.time_limit_s and elapsed + 1.1 * epoch_seconds > self.time_limit_s:
            self.stopped_because = f"the time limit ({self.time_limit_s / 60:g} min)"
            self.model.stop_training = True
        if self.model.stop_training and self.stopped_because:
            print(f"stopping: {self.stopped_because}", flush=True)


# --- Data ------------------------------------------------------------------------------------


def generated_data(
    args: argparse.Namespace, settled: dict[str, Any]
) -> tuple[list[LabelledSet], dict[str, Any], str]:
    """Train, validation and test sets rendered in memory, and the card's training_data entry."""
    progress = not args.quiet
    charset = resolve_charset(settled["charset"] or "digits+lower")
    settled["min_length"] = settled["min_length"] or 4
    settled["max_length"] = settled["max_length"] or settled["min_length"]
    settled["width"], settled["height"] = settled["width"] or 100, settled["height"] or 60
    spec = CaptchaSpec(
        charset, settled["min_length"], settled["max_length"], settled["width"], settled["height"]
    )
    sets = []
    for count, seed in (
        (settled["generate"], args.seed),
        (args.validation, args.seed + 1),
        (args.validation, args.seed + 2),
    ):
        labels, pixels = generate_arrays(spec, count, seed, args.workers, progress)
        sets.append(LabelledSet(labels, pixels))
    info = {
        "source": "generated in memory by captcha.image.ImageCaptcha (captcha==0.7.1)",
        "spec": spec.as_dict(),
        "train_samples": len(sets[0]),
        "train_seed": args.seed,
        "validation_samples": len(sets[1]),
        "validation_seed": args.seed + 1,
        "test_samples": len(sets[2]),
        "test_seed": args.seed + 2,
    }
    settled["resize"] = "stretch"
    return sets, info, charset


def folder_data(
    args: argparse.Namespace, settled: dict[str, Any]
) -> tuple[list[LabelledSet], dict[str, Any], str, Path | None]:
    """Train, validation and test sets from --data, with charset, lengths and size settled from it."""
    paths = folder_images(args.data)
    labels = [label_of(path) for path in paths]
    empty = [path.name for path, label in zip(paths, labels, strict=True) if not label]
    if empty:
        raise ValueError(
            f"--data {args.data}: {len(empty)} files have no label in their name, e.g. {empty[0]!r}"
        )
    charset = resolve_charset(settled["charset"]) if settled["charset"] else infer_charset(labels)
    unknown = "".join(sorted(set("".join(labels)) - set(charset)))
    if unknown:
        example = next(label for label in labels if set(label) & set(unknown))
        raise ValueError(
            f"labels use characters outside --charset {settled['charset']!r}: {unknown!r} "
            f"(e.g. {example!r}); widen --charset, or leave it out to take the labels' characters"
        )
    settled["min_length"] = settled["min_length"] or min(map(len, labels))
    settled["max_length"] = settled["max_length"] or max(map(len, labels))
    shortest, longest = settled["min_length"], settled["max_length"]
    outside = [label for label in labels if not shortest <= len(label) <= longest]
    if outside:
        raise ValueError(
            f"{len(outside)} labels outside lengths {shortest}-{longest}, e.g. {outside[0]!r}; "
            "widen --min-length/--max-length or leave them out"
        )
    source_dir = resolve_source(args.from_model, charset, args.out, folder=True)
    source_height = read_card(source_dir).input_shape[0] if source_dir is not None else None
    size = choose_input_size(image_sizes(paths), longest, settled["height"] or source_height)
    settled["width"] = settled["width"] or size.width
    settled["height"] = settled["height"] or size.height
    settled["resize"] = size.resize
    settled["size_reason"] = size.why
    train_paths, validation_paths, test_paths, layout = split_paths(args.data, args.seed)
    width, height, progress = settled["width"], settled["height"], not args.quiet
    sets = [
        load_images(part, width, height, size.resize, progress, desc)
        for part, desc in (
            (train_paths, "read train"),
            (validation_paths, "read validation"),
            (test_paths, "read test"),
        )
    ]
    return sets, data_info(args.data, layout, *sets), charset, source_dir


# --- Run -------------------------------------------------------------------------------------


def held_out_report(truths: list[str], predictions: list[str], top: int = 8) -> tuple[dict[str, Any], str]:
    """Test figures for the card, and the lines that report them."""
    result = score(truths, predictions)
    confused = confusions(truths, predictions).most_common(top)
    metrics = {
        "test_whole_accuracy": round(result.whole_accuracy, 4),
        "test_char_accuracy": round(result.char_accuracy, 4),
        "test_samples": result.samples,
        "most_confused": [f"{t}->{p}: {n}" for (t, p), n in confused],
    }
    lines = [
        f"held-out test, {result.samples} images: whole-captcha {result.whole_accuracy:.4f}, "
        f"character {result.char_accuracy:.4f}"
    ]
    if confused:
        lines.append(
            "  most confused (true -> read: times): " + ", ".join(f"{t}->{p}: {n}" for (t, p), n in confused)
        )
    wrong = [(t, p) for t, p in zip(truths, predictions, strict=True) if t != p][:8]
    if wrong:
        lines.append("  some misreadings: " + ", ".join(f"{t}->{p or '(nothing)'}" for t, p in wrong))
    return metrics, "\n".join(lines)


def run(args: argparse.Namespace, argv: list[str] | None = None) -> Path:
    settled = _settle(args)
    keras.utils.set_random_seed(args.seed)
    if settled["generate"]:
        (train, validation, test), training_data, charset = generated_data(args, settled)
        source_dir = resolve_source(args.from_model, charset, args.out, folder=False)
    else:
        (train, validation, test), training_data, charset, source_dir = folder_data(args, settled)
    source_card = read_card(source_dir) if source_dir is not None else None
    if source_card is not None and source_card.input_shape[0] != settled["height"]:
        print(
            f"--from {source_dir}: its height {source_card.input_shape[0]} differs from "
            f"{settled['height']}; the column layer starts fresh"
        )
    min_length, max_length = settled["min_length"], settled["max_length"]
    width, height, batch_size = settled["width"], settled["height"], settled["batch_size"]
    if width // 4 < 2 * max_length + 1:
        raise ValueError(
            f"--width {width} gives {width // 4} timesteps; {max_length} characters need {2 * max_length + 1}"
        )
    augmentation = Augmentation() if settled["augment"] else None
    training_data["augmentation"] = augmentation.describe() if augmentation else "none"
    print(
        f"train {len(train)}, validation {len(validation)}, test {len(test)} (held out); "
        f"charset {charset!r}; lengths {min_length}-{max_length}; input {width}x{height}"
        + (f" ({settled['size_reason']})" if settled.get("size_reason") else ""),
        flush=True,
    )

    steps = max(math.ceil(len(train) / batch_size), MIN_STEPS_PER_EPOCH if augmentation else 1)
    if augmentation:
        train_ds = augmented_pipeline(train, charset, max_length, batch_size, augmentation, args.seed)
    else:
        train_ds = make_pipeline(train, charset, max_length, batch_size, True, args.seed)
        steps = None
    validation_ds = make_pipeline(validation, charset, max_length, 256)
    sample = train.subset(np.arange(min(TRAIN_SCORE_SAMPLES, len(train))))
    sample_ds = make_pipeline(sample, charset, max_length, 256)

    def fresh(restart: int) -> list[np.ndarray]:
        """Starting weights: a new draw (seeded by the restart), onto which --from is grafted."""
        keras.utils.set_random_seed(args.seed + 1000 * restart)
        model = build_crnn(height, width, len(charset), args.gru_units)
        if source_dir is not None and source_card is not None:
            source = keras.saving.load_model(source_dir / MODEL_FILE, compile=False)
            reused = transfer_weights(source, model, card_charset(source_card), charset)
            if restart == 0:
                print(f"fine-tuning from {source_dir}: reused {', '.join(reused)}", flush=True)
        return model.get_weights()

    checkpoint_dir = args.checkpoints / settled["name"]
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    history: dict[str, list[float]] = {}
    initial_epoch = 0
    if args.resume and (checkpoint_dir / "last.keras").is_file():
        model = keras.saving.load_model(checkpoint_dir / "last.keras")
        state = json.loads((checkpoint_dir / "state.json").read_text(encoding="utf-8"))
        initial_epoch, history = state["epoch"], state["history"]
        print(f"resuming {settled['name']} after epoch {initial_epoch}", flush=True)
    else:
        if args.resume:
            print(f"no checkpoint in {checkpoint_dir}; starting afresh", flush=True)
        model = build_crnn(height, width, len(charset), args.gru_units)
        model.set_weights(fresh(0))
        model.compile(optimizer=keras.optimizers.Adam(args.learning_rate), loss=ctc_loss)
        (checkpoint_dir / "best.weights.h5").unlink(missing_ok=True)

    scorer = Scorer(
        charset,
        (sample_ds, sample.labels),
        (validation_ds, validation.labels),
        checkpoint_dir,
        settled["target"],
        history,
    )
    schedule = Schedule(
        history,
        args.learning_rate,
        settled["plateau_patience"],
        args.patience,
        settled["time_limit_s"],
        fresh,
        warmup=initial_epoch == 0,
    )
    started = time.perf_counter()
    model.fit(
        train_ds,
        epochs=settled["epochs"],
        initial_epoch=initial_epoch,
        steps_per_epoch=steps,
        validation_data=validation_ds,
        callbacks=[scorer, schedule],
        shuffle=False,  # the pipeline shuffles
        verbose=0 if args.quiet or not sys.stdout.isatty() else 1,
    )
    training_seconds = time.perf_counter() - started + sum(history.get("seconds", [])[:initial_epoch])
    model.load_weights(checkpoint_dir / "best.weights.h5")

    servable = build_crnn(height, width, len(charset), args.gru_units)
    servable.set_weights(model.get_weights())
    test_ds = make_pipeline(test, charset, max_length, 256)
    test_metrics, report = held_out_report(test.labels, read_all(servable, test_ds, charset))
    print(report, flush=True)
    installed = test_metrics["test_whole_accuracy"] >= args.min_accuracy
    model_dir = args.out / settled["name"] if installed else checkpoint_dir / "model"

    # The last of equally good epochs: the one whose weights the Scorer kept (it saves on >=).
    scores = epoch_scores(history)
    best_epoch = len(scores) - scores[::-1].index(max(scores))
    source = (
        "held-out images of the folder"
        if args.data is not None
        else f"generated captchas (seed {args.seed + 2})"
    )
    card = ModelCard(
        name=settled["name"],
        version=args.model_version,
        task="captcha",
        description=settled["description"] if args.preset else f"CRNN-CTC captcha reader ({charset}).",
        classes=[BLANK_LABEL, *charset],
        input_shape=[height, width, 1],
        training_data=training_data,
        metrics={
            "validation_whole_accuracy": round(history["val_whole_accuracy"][best_epoch - 1], 4),
            "validation_char_accuracy": round(history["val_char_accuracy"][best_epoch - 1], 4),
            **test_metrics,
            "test_data": f"{len(test)} {source}, never trained on",
        },
        created=date.today().isoformat(),
        charset=charset,
        min_length=min_length,
        max_length=max_length,
        width=width,
        height=height,
        resize=settled["resize"],
        input_size=settled.get("size_reason", "given"),
        architecture=describe(args.gru_units),
        params=int(servable.count_params()),
        fine_tuned_from=f"{source_card.name} {source_card.version}" if source_card else None,
        epochs=len(history["loss"]),
        best_epoch=best_epoch,
        restarts=schedule.restarts,
        batch_size=batch_size,
        optimizer=(
            f"Adam {args.learning_rate:g}, warm-up over {WARMUP_STEPS} steps, x0.3 after "
            f"{settled['plateau_patience']} epochs without a better validation loss (not while reading "
            "nothing); CTC loss"
        ),
        seed=args.seed,
        training_seconds=round(training_seconds),
        training_machine="2 CPU cores, no GPU",
        framework={"keras": keras.__version__, "tensorflow": tf.__version__},
        trained_with=shlex.join(["python", "-m", "captcha_service.cli", "train", *(argv or [])]),
    )
    outcome = TrainingRun(history, best_epoch, training_seconds)
    files = save_training_artifacts(model_dir, servable, card, outcome, CURVE, settled["name"])
    if not installed:
        print(
            f"NOT installed: whole-captcha accuracy {test_metrics['test_whole_accuracy']:.1%} on the "
            f"{len(test)} held-out images is below --min-accuracy {args.min_accuracy:g}, so "
            f"{args.out / settled['name']} was left as it was; the model is in {files}. Try: more "
            "labelled images (a few hundred at the least), --from default to start from a trained "
            "reader, a longer --time-limit, or check the labels with verify-split",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(1)
    print(f"installed {files} in {training_seconds:.0f} s of training", flush=True)
    return model_dir


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    """The command line: its options (`add_train_arguments`), then `run` with the words it was given."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    add_train_arguments(parser)
    run(parser.parse_args(argv), argv)
