"""Train a CRNN-CTC captcha reader and write it as a servable model directory.

    python -m captcha_service.cli train --preset default
    python -m captcha_service.cli train --name mine --data captchas/ --augment

Trains on captchas generated in memory (seeded, both CPU cores) or on a folder of labelled
images, prints train and validation character and whole-captcha accuracy after every epoch,
checkpoints every epoch (`--resume` continues), stops early once validation whole-captcha
accuracy reaches `--target`, and writes::

    <out>/<name>/model.keras          inference model (image -> per-timestep softmax), best epoch
    <out>/<name>/card.json            charset, lengths, size, training data, recipe, accuracy
    <out>/<name>/history.json         per-epoch loss, accuracies, seconds
    <out>/<name>/training_curve.png   the same, plotted
"""

from __future__ import annotations

import argparse
import json
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

from captcha_service.ctc import BLANK_LABEL, decode_batch
from captcha_service.labels import infer_charset, resolve_charset
from captcha_service.scoring import score
from captcha_service.synth import CaptchaSpec, generate_arrays
from captcha_service.training.architectures import build_crnn, describe
from captcha_service.training.data import (
    AUGMENTATION,
    LabelledSet,
    load_folder_split,
    make_pipeline,
)
from captcha_service.training.options import FALLBACKS, PRESETS
from captcha_service.training.plots import plot_history
from recognition_common.model_card import MODEL_FILE, ModelCard, write_card

TRAIN_SCORE_SAMPLES = 2000  # training accuracy is measured on this many training samples


def _settle(args: argparse.Namespace) -> dict[str, Any]:
    """Command-line flags over the preset over the fallbacks."""
    name = args.name or args.preset
    if not name:
        raise SystemExit("give --preset or --name")
    preset = PRESETS.get(args.preset or "", {})
    settled = {key: preset.get(key, value) for key, value in FALLBACKS.items()}
    for key in ("charset", "min_length", "max_length", "width", "height", "generate", "epochs", "target"):
        if getattr(args, key) is not None:
            settled[key] = getattr(args, key)
    if args.data is not None:
        settled["generate"] = 0
    if not settled["generate"] and args.data is None:
        raise SystemExit("give --data FOLDER or --generate N (or a --preset)")
    settled["name"] = name
    return settled


# --- Loss and scoring ------------------------------------------------------------------------


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
        self.best = max(history.get("val_whole_accuracy", [0.0]) or [0.0])

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._started = time.perf_counter()

    def _score(self, dataset: tf.data.Dataset, truths: list[str]) -> tuple[float, float]:
        outputs = self.model.predict(dataset, verbose=0)
        result = score(truths, decode_batch(outputs, self.charset))
        return result.char_accuracy, result.whole_accuracy

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs if logs is not None else {}
        logs["seconds"] = time.perf_counter() - self._started
        logs["char_accuracy"], logs["whole_accuracy"] = self._score(*self.train_sample)
        logs["val_char_accuracy"], logs["val_whole_accuracy"] = self._score(*self.validation)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        print(
            f"epoch {epoch + 1}: loss {logs['loss']:.4f} val_loss {logs.get('val_loss', float('nan')):.4f} | "
            f"train char {logs['char_accuracy']:.4f} whole {logs['whole_accuracy']:.4f} | "
            f"validation char {logs['val_char_accuracy']:.4f} whole {logs['val_whole_accuracy']:.4f} | "
            f"{logs['seconds']:.0f} s",
            flush=True,
        )
        if logs["val_whole_accuracy"] >= self.best:
            self.best = logs["val_whole_accuracy"]
            self.model.save_weights(self.checkpoint_dir / "best.weights.h5")
        self.model.save(self.checkpoint_dir / "last.keras")
        state = {"epoch": epoch + 1, "history": self.history}
        (self.checkpoint_dir / "state.json").write_text(json.dumps(state), encoding="utf-8")
        if logs["val_whole_accuracy"] >= self.target:
            print(
                f"validation whole-captcha accuracy reached the target {self.target:g}; stopping", flush=True
            )
            self.model.stop_training = True


# --- Run -------------------------------------------------------------------------------------


def load_data(
    args: argparse.Namespace, settled: dict[str, Any]
) -> tuple[LabelledSet, LabelledSet, dict[str, Any], str]:
    """Train and validation sets, the card's training_data entry, and the charset."""
    progress = not args.quiet
    if settled["generate"]:
        charset = resolve_charset(settled["charset"] or "digits+lower")
        spec = CaptchaSpec(
            charset,
            settled["min_length"] or 4,
            settled["max_length"] or settled["min_length"] or 4,
            settled["width"],
            settled["height"],
        )
        train_labels, train_pixels = generate_arrays(
            spec, settled["generate"], args.seed, args.workers, progress
        )
        val_labels, val_pixels = generate_arrays(spec, args.validation, args.seed + 1, args.workers, progress)
        info = {
            "source": "generated in memory by captcha.image.ImageCaptcha (captcha==0.7.1)",
            "spec": spec.as_dict(),
            "train_samples": len(train_labels),
            "train_seed": args.seed,
            "validation_samples": len(val_labels),
            "validation_seed": args.seed + 1,
        }
        return LabelledSet(train_labels, train_pixels), LabelledSet(val_labels, val_pixels), info, charset
    train, validation, info = load_folder_split(
        args.data, settled["width"], settled["height"], args.seed, progress
    )
    all_labels = train.labels + validation.labels
    charset = resolve_charset(settled["charset"]) if settled["charset"] else infer_charset(all_labels)
    unknown = set("".join(all_labels)) - set(charset)
    if unknown:
        raise SystemExit(f"labels use characters outside the charset: {''.join(sorted(unknown))}")
    settled["min_length"] = settled["min_length"] or min(map(len, all_labels))
    settled["max_length"] = settled["max_length"] or max(map(len, all_labels))
    shortest, longest = settled["min_length"], settled["max_length"]
    outside = [label for label in all_labels if not shortest <= len(label) <= longest]
    if outside:
        raise SystemExit(
            f"{len(outside)} labels outside lengths {shortest}-{longest}, "
            f"e.g. {outside[0]!r}; run verify-split with --min-length/--max-length first"
        )
    return train, validation, info, charset


def run(args: argparse.Namespace, argv: list[str] | None = None) -> Path:
    settled = _settle(args)
    keras.utils.set_random_seed(args.seed)
    train, validation, training_data, charset = load_data(args, settled)
    min_length = settled["min_length"] or min(map(len, train.labels))
    max_length = settled["max_length"] or max(map(len, train.labels))
    width, height = settled["width"], settled["height"]
    if width % 4 or width // 4 < 2 * max_length + 1:
        raise SystemExit(f"width {width} must be a multiple of 4 and give 2*max_length+1 timesteps")
    training_data["augmentation"] = AUGMENTATION if args.augment else "none"
    print(
        f"train {len(train)}, validation {len(validation)}; charset {charset!r}; "
        f"lengths {min_length}-{max_length}; {width}x{height}",
        flush=True,
    )

    train_ds = make_pipeline(train, charset, max_length, args.batch_size, True, args.augment, args.seed)
    validation_ds = make_pipeline(validation, charset, max_length, 256)
    sample = train.subset(np.arange(min(TRAIN_SCORE_SAMPLES, len(train))))
    sample_ds = make_pipeline(sample, charset, max_length, 256)

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
    started = time.perf_counter()
    model.fit(
        train_ds,
        epochs=settled["epochs"],
        initial_epoch=initial_epoch,
        validation_data=validation_ds,
        callbacks=[
            scorer,
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=1, min_lr=1e-5),
        ],
        shuffle=False,  # the pipeline shuffles
        verbose=0 if args.quiet or not sys.stdout.isatty() else 1,
    )
    training_seconds = time.perf_counter() - started + sum(history.get("seconds", [])[:initial_epoch])
    model.load_weights(checkpoint_dir / "best.weights.h5")

    model_dir = args.out / settled["name"]
    model_dir.mkdir(parents=True, exist_ok=True)
    servable = build_crnn(height, width, len(charset), args.gru_units)
    servable.set_weights(model.get_weights())
    keras.saving.save_model(servable, model_dir / MODEL_FILE)

    # The last of equally good epochs: the one whose weights the Scorer kept (it saves on >=).
    scores = history["val_whole_accuracy"]
    best_epoch = len(scores) - int(np.argmax(scores[::-1]))
    record = {**history, "best_epoch": best_epoch, "training_seconds": round(training_seconds, 1)}
    (model_dir / "history.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    plot_history(history, model_dir / "training_curve.png", f"{settled['name']}: best epoch {best_epoch}")
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
        },
        created=date.today().isoformat(),
        charset=charset,
        min_length=min_length,
        max_length=max_length,
        width=width,
        height=height,
        architecture=describe(args.gru_units),
        params=int(servable.count_params()),
        epochs=len(history["loss"]),
        best_epoch=best_epoch,
        batch_size=args.batch_size,
        optimizer=f"Adam {args.learning_rate:g}, x0.3 on a validation-loss plateau; CTC loss",
        seed=args.seed,
        training_seconds=round(training_seconds),
        training_machine="2 CPU cores, no GPU",
        framework={"keras": keras.__version__, "tensorflow": tf.__version__},
        trained_with=shlex.join(["python", "-m", "captcha_service.cli", "train", *(argv or [])]),
    )
    write_card(model_dir, card)
    print(
        f"wrote {model_dir}/{{{MODEL_FILE},card.json,history.json,training_curve.png}} "
        f"in {training_seconds:.0f} s",
        flush=True,
    )
    return model_dir
