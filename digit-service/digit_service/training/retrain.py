"""`retrain`: users' corrections in, a better digit model served, or a clear reason why not.

    python -m digit_service.cli retrain --feedback http://127.0.0.1:8000 [--model cnn] \\
        [--data ../shared/data/mnist.npz] [--service http://127.0.0.1:8001]   # = make retrain-digit

1. The corrections of `--model`, from the gateway's export (`--feedback URL`, with `--api-key`
   when keys are on) or a zip saved from it; a fifth held out, the same ones every time; images
   stored with two labels left out (`recognition_common.retraining`).
2. Training digits: each correction cut into its digits by the service's own segmentation, the
   reading of each stroke group chosen so that the digits line up with the label (a correction
   that cannot be lined up is reported and left out), repeated so that they are about a tenth of
   the training set, mixed with `--mix` MNIST training digits rendered in the served styles plus
   junk (what the shipped models learned, so the new one does not forget it or stop refusing
   junk).
3. The served model fine-tuned on them (`--epochs`, a twentieth of training's learning rate,
   training's augmentation), its calibration temperature kept.
4. Old and new judged on the task's own evaluation (the whole pipeline on MNIST test digits, as
   they are, in every rendered style, in rows, and junk that must be refused; seed 2026) and on
   the held-out corrections, read exactly as corrected and not refused.
5. Installed as the next version when no worse on the first (beyond one standard error, or
   `--tolerance`) and better on the second, and the service asked to reload (`--service`,
   `--admin-token` or DIGIT_ADMIN_TOKEN); otherwise the served model is untouched and the
   command exits with status 1.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

import keras
import numpy as np

from digit_service.config import DigitSettings
from digit_service.preprocess import DigitSample, prepare_readings
from digit_service.recognizer import calibrated, card_temperature
from digit_service.training import pipeline_eval
from digit_service.training.data import DataSet, load_dataset, make_pipeline, split_validation
from digit_service.training.train import DEFAULT_DATA, DEFAULT_OUT, RECIPES, REPO_ROOT, render
from recognition_common.artifacts import CURVE_FILE, HISTORY_FILE, servable_copy
from recognition_common.edge.errors import ApiError
from recognition_common.edge.imaging import ImageLimits, decode_image
from recognition_common.retraining import CorrectionFile, Score, add_retrain_arguments, next_version, retrain
from recognition_common.serving.model_card import MODEL_FILE, ModelCard, read_card, write_card
from recognition_common.serving.models import load_compiled

EVALUATION_SEED = 2026  # the task's own evaluation (make evaluate-digit)
CORRECTION_SHARE = 0.1  # of the training set: enough to move the model, not to take it over


def parse_args(argv: list[str], prog: str | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Fine-tune a served digit model on users' corrections; install it only if better.",
    )
    add_retrain_arguments(parser, "digit", DEFAULT_OUT, "DIGIT_ADMIN_TOKEN", model="cnn")
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="MNIST .npz: its training digits are mixed in, its test digits evaluate (default: %(default)s)",
    )
    parser.add_argument(
        "--mix", type=int, default=20000, help="MNIST training digits mixed in (default 20000)"
    )
    parser.add_argument(
        "--evaluate", type=int, default=500, help="MNIST test digits per evaluation set (default 500)"
    )
    parser.add_argument("--epochs", type=int, default=2, help="passes over the training set (default 2)")
    parser.add_argument(
        "--learning-rate", type=float, default=1e-4, help="a twentieth of training's (default %(default)s)"
    )
    args = parser.parse_args(argv)
    if args.evaluate < 10 or args.mix < 100:
        parser.error("--evaluate must be at least 10 and --mix at least 100")
    return args


@dataclass
class DigitRetrainer:
    """The digit's part of `retrain` (`recognition_common.retraining.Retrainer`)."""

    args: argparse.Namespace
    task: str = "digit"
    work_root: Path = REPO_ROOT / "training-runs" / "digit"
    training: dict[str, DataSet] = field(default_factory=dict)  # written by `prepare`
    models: dict[Path, tuple[ModelCard, pipeline_eval.PredictFn, pipeline_eval.PredictFn | None]] = field(
        default_factory=dict
    )

    @cached_property
    def mnist(self) -> tuple[DataSet, DataSet]:
        """MNIST's (train, test) splits: the first is mixed in, the second evaluates."""
        if self.args.data.is_dir():
            raise ValueError(
                f"{self.args.data}: retrain mixes in and evaluates on MNIST; give its .npz (--data)"
            )
        train, test = load_dataset(self.args.data)
        assert test is not None  # an .npz has both
        return train, test

    @cached_property
    def evaluation_sets(self) -> dict[str, list[pipeline_eval.Case]]:
        _, test = self.mnist
        count = self.args.evaluate
        x = np.round(test.x[:count, ..., 0] * 255).astype(np.uint8)
        sets = pipeline_eval.build_cases(x, test.y[:count], EVALUATION_SEED, count)
        # Touching pairs and small thick-pen digits are known limits the shipped models still miss
        # one time in four or five (README): pooled in, they would swamp the other 6,500 cases, so
        # the verdict keeps to those.
        return {name: cases for name, cases in sets.items() if name not in pipeline_eval.KNOWN_LIMITS}

    def prepare(self, train: list[CorrectionFile], held: list[CorrectionFile], work: Path) -> dict[str, Any]:
        args = self.args
        mnist, _ = self.mnist
        served_card, predict, _ = self.served(args.models_dir / args.model)
        digits, labels, unmatched = correction_digits(train, predict, card_temperature(served_card))
        if len(labels) == 0:
            raise ValueError(
                f"none of the {len(train)} corrections could be lined up with its label (the image's "
                "digits and the label's differ in number): nothing to train on"
            )
        mnist_train, validation = split_validation(mnist)
        order = np.random.default_rng(args.seed).permutation(len(mnist_train.y))[: args.mix]
        mixed = render(
            DataSet(mnist_train.x[order], mnist_train.y[order]), args.seed, RECIPES["cnn"].junk_share
        )
        repeat = max(1, round(CORRECTION_SHARE * len(mixed.y) / ((1 - CORRECTION_SHARE) * len(labels))))
        corrections = DataSet(
            np.repeat(digits, repeat, axis=0)[..., np.newaxis],
            np.eye(10, dtype=np.float32)[np.repeat(labels, repeat)],
        )
        self.training = {
            "train": DataSet(
                np.concatenate([mixed.x, corrections.x]), np.concatenate([mixed.y, corrections.y])
            ),
            "validation": render(DataSet(validation.x[:2000], validation.y[:2000]), args.seed + 1, 0.0),
        }
        print(
            f"training on {len(labels)} digits from {len(train) - unmatched} corrections (x{repeat}) and "
            f"{len(mixed.y)} rendered MNIST digits and junk marks; {unmatched} corrections not lined up"
        )
        return {
            "corrections": len(train),
            "not_lined_up": unmatched,
            "correction_digits": len(labels),
            "repeated": repeat,
            "mixed": f"{len(mixed.y)} MNIST training digits rendered in the served styles, plus junk",
        }

    def fine_tune(self, model_dir: Path, work: Path) -> Path:
        args, card = self.args, read_card(model_dir)
        keras.utils.set_random_seed(args.seed)
        model = keras.saving.load_model(model_dir / MODEL_FILE, compile=False)
        train = make_pipeline(
            self.training["train"],
            128,
            training=True,
            augmentation=RECIPES["cnn"].augmentation,
            seed=args.seed,
        )
        model.compile(
            optimizer=keras.optimizers.Adam(args.learning_rate),
            loss=keras.losses.CategoricalCrossentropy(),
            metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        )
        history = model.fit(
            train,
            epochs=args.epochs,
            validation_data=make_pipeline(self.training["validation"], 1024),
            shuffle=False,  # the pipeline shuffles
            verbose=0 if args.quiet else (1 if sys.stdout.isatty() else 2),
        ).history
        out = work / "out" / card.name
        out.mkdir(parents=True)
        servable = servable_copy(lambda: keras.models.clone_model(model), model.get_weights())
        keras.saving.save_model(servable, out / MODEL_FILE)
        for extra in (CURVE_FILE, HISTORY_FILE):  # the original run's, for reference
            if (model_dir / extra).is_file():
                shutil.copy(model_dir / extra, out / f"original_{extra}")
        for component in card.components:  # the pair detector, as it is
            shutil.copytree(model_dir / component, out / component)
        training_data = dict(card.training_data)
        training_data["fine_tuned_on_corrections"] = {
            "from_version": card.version,
            "epochs": args.epochs,
            "learning_rate": args.learning_rate,
            "validation_accuracy": [round(float(v), 4) for v in history["val_accuracy"]],
        }
        write_card(
            out,
            card.model_copy(
                update={
                    "version": next_version(card.version),
                    "training_data": training_data,
                    "metrics": {"validation_accuracy": round(float(history["val_accuracy"][-1]), 4)},
                    "created": date.today().isoformat(),
                }
            ),
        )
        return out

    def task_scores(self, model_dir: Path) -> dict[str, Score]:
        cases = [case for cases in self.evaluation_sets.values() for case in cases]
        outcomes = self._read(model_dir, cases)
        right = np.mean([o.right and not o.refused if o.case.truth else o.refused for o in outcomes])
        name = (
            f"the whole pipeline on {self.args.evaluate} MNIST test digits per set (as they are, each "
            f"rendered style, rows) and junk to refuse, seed {EVALUATION_SEED}: answered right"
        )
        return {name: Score(float(right), len(cases))}

    def corrections_accuracy(self, model_dir: Path, held: list[CorrectionFile]) -> float:
        cases = [pipeline_eval.Case(c.path.read_bytes(), c.label) for c in held]
        return float(np.mean([o.right and not o.refused for o in self._read(model_dir, cases)]))

    def served(
        self, model_dir: Path
    ) -> tuple[ModelCard, pipeline_eval.PredictFn, pipeline_eval.PredictFn | None]:
        """`model_dir`'s card, compiled model and pair detector (None without one), loaded once."""
        if model_dir not in self.models:
            card, predict = load_compiled(model_dir, pipeline_eval.CHUNK)
            self.models[model_dir] = (card, predict, pipeline_eval.load_pairs(model_dir, card))
        return self.models[model_dir]

    def _read(self, model_dir: Path, cases: list[pipeline_eval.Case]) -> list[pipeline_eval.Outcome]:
        card, predict, pairs = self.served(model_dir)
        return pipeline_eval.read_all(cases, card, predict, DigitSettings().min_confidence, pairs)


def correction_digits(
    corrections: list[CorrectionFile], predict: pipeline_eval.PredictFn, temperature: float
) -> tuple[np.ndarray, np.ndarray, int]:
    """The digits of each correction as the service cuts them, with the label's digits: float32
    (N, 28, 28) and int labels, and how many corrections could not be lined up with their label."""
    pixels: list[np.ndarray] = []
    labels: list[int] = []
    unmatched = 0
    for correction in corrections:
        try:
            samples = prepare_readings(decode_image(correction.path.read_bytes(), ImageLimits()))
        except ApiError:
            unmatched += 1
            continue
        inputs = np.stack([sample.pixels for sample in samples])[..., np.newaxis]
        confidences = calibrated(predict(inputs), temperature).max(axis=1)
        chosen = line_up(samples, confidences, len(correction.label))
        if chosen is None:
            unmatched += 1
            continue
        pixels += [samples[index].pixels for index in chosen]
        labels += [int(digit) for digit in correction.label]
    return np.asarray(pixels, np.float32).reshape(-1, 28, 28), np.asarray(labels, np.int64), unmatched


def line_up(samples: list[DigitSample], confidences: np.ndarray, digits: int) -> list[int] | None:
    """Indices of the samples that make `digits` digits: per stroke group one of its readings
    (whole or split), the combination the model is surest of as `choose_readings` scores them
    (shape prior plus log confidences); None when no combination has that many digits."""
    readings: dict[int, dict[int, list[int]]] = {}
    for index, sample in enumerate(samples):
        readings.setdefault(sample.group, {}).setdefault(sample.reading, []).append(index)
    # Best (score, indices) for each number of digits so far, one group at a time.
    best: dict[int, tuple[float, list[int]]] = {0: (0.0, [])}
    for group in readings.values():
        following: dict[int, tuple[float, list[int]]] = {}
        for count, (score, chosen) in best.items():
            for indices in group.values():
                total = count + len(indices)
                if total > digits:
                    continue
                gain = samples[indices[0]].prior + float(
                    np.sum(np.log(np.maximum(confidences[indices], 1e-6)))
                )
                if total not in following or score + gain > following[total][0]:
                    following[total] = (score + gain, chosen + indices)
        best = following
    return best[digits][1] if digits in best else None


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv, prog)
    retrain(DigitRetrainer(args), args, ["python", "-m", "digit_service.cli", "retrain", *argv])
