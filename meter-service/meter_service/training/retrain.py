"""`retrain`: users' corrections in, a better meter reader served, or a clear reason why not.

    python -m meter_service.cli retrain --feedback http://127.0.0.1:8000 [--model default] \\
        [--data ../shared/data/meter-digits/meterdigits.tar.gz] \\
        [--service http://127.0.0.1:8003]                                   # = make retrain-meter

1. The corrections of `--model` (photos or window crops, each with the right reading), from the
   gateway's export (`--feedback URL`, with `--api-key` when keys are on) or a zip saved from
   it; a fifth held out, the same ones every time; images stored with two readings left out
   (`recognition_common.retraining`).
2. Training wheels: each correction located and cut into as many wheels as its reading has
   digits by the service's own steps (`pipeline`), the cut among its alignments that the served
   reader finds most like the reading; each wheel labelled with its digit, or, when the served
   reader sees it rolling from that digit to the next, with where it stands (the reading's rule
   floors a rolling wheel). A photo whose window is not found is reported and left out. They are
   repeated to about a fifth of the training set and mixed with `--mix` crops of the reader's
   own training data (the real crops' train split of `--data`, else rendered wheels), so the
   reader does not forget them.
3. The served reader fine-tuned on them (`--epochs`, a tenth of training's learning rate, the
   same augmentation and soft labels as training; an average of several readers is tuned as one,
   on its averaged output); the locator is kept as it is.
4. Old and new judged on the task's own evaluation, two measures: the reader's whole-digit
   accuracy on the held-out test split of the real crops, and 300 windows composed from those
   crops (`evaluate`'s section 5) read by the whole pipeline, right and not refused (rendered
   wheels only, when `--data` is missing); and on the held-out corrections, read by the whole
   pipeline (wheels counted, as the service does by default) exactly as corrected and not refused.
5. Installed as the next version when no worse on each measure of the first (beyond its one
   standard error, or `--tolerance`) and better on the second, and the service asked to reload (`--service`,
   `--admin-token` or METER_ADMIN_TOKEN); otherwise the served model is untouched and the
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
from PIL import Image

from meter_service import pipeline
from meter_service.card import LOCATOR
from meter_service.pipeline import MeterOptions, Thresholds
from meter_service.reader import NUM_CLASSES, decode_wheels, reader_input
from meter_service.synth import MeterSample
from meter_service.training.composed import composed_strips
from meter_service.training.evaluate import (
    Predict,
    locate_jobs,
    read_images,
    read_samples,
    service_thresholds,
)
from meter_service.training.reader import (
    DEFAULT_DATA,
    DEFAULT_MODELS,
    LABEL_SIGMA,
    SYNTHETIC_EVAL_SEED,
    build_ensemble,
    ensemble_members,
    make_dataset,
    read_positions,
    score_positions,
)
from meter_service.training.reader_data import RealCrops, load_real, synthetic_crops
from recognition_common.artifacts import CURVE_FILE, HISTORY_FILE, servable_copy
from recognition_common.edge.errors import ApiError
from recognition_common.retraining import CorrectionFile, Score, add_retrain_arguments, next_version, retrain
from recognition_common.serving.model_card import MODEL_FILE, read_card, write_card
from recognition_common.serving.models import load_compiled

REPO_ROOT = Path(__file__).resolve().parents[3]
CORRECTION_SHARE = 0.2  # of the training set: enough to move the reader, not to take it over
ROLLING = (0.2, 0.8)  # a wheel read this far past its labelled digit is rolling to the next
SYNTHETIC_SHARE = 0.2  # of the mixed-in crops, rendered (as in training), the rest real
COMPOSED_STRIPS, COMPOSED_SEED = 300, 2026  # as `make evaluate-meter` composes them


def parse_args(argv: list[str], prog: str | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Fine-tune a served meter reader on users' corrections; install it only if better.",
    )
    add_retrain_arguments(parser, "meter", DEFAULT_MODELS, "METER_ADMIN_TOKEN")
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="the real wheel crops (meterdigits.tar.gz): their train split is mixed in, their "
        "test split evaluates; without them rendered wheels do both (default: %(default)s)",
    )
    parser.add_argument(
        "--mix", type=int, default=8000, help="crops of the original data mixed in (default 8000)"
    )
    parser.add_argument(
        "--evaluate",
        type=int,
        default=2000,
        help="rendered wheels to evaluate on without --data (default 2000)",
    )
    parser.add_argument("--epochs", type=int, default=4, help="passes over the training set (default 4)")
    parser.add_argument(
        "--learning-rate", type=float, default=2e-4, help="a tenth of training's (default %(default)s)"
    )
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args(argv)
    if args.mix < 100 or args.evaluate < 10:
        parser.error("--mix must be at least 100 and --evaluate at least 10")
    return args


@dataclass(frozen=True)
class Served:
    """A model directory's locator and reader, loaded and compiled once."""

    locator_shape: tuple[int, ...]
    locator: Predict
    reader: Predict
    thresholds: Thresholds  # the service's own

    @classmethod
    def load(cls, model_dir: Path) -> Served:
        locator_card, locator = load_compiled(model_dir / LOCATOR, 16)
        _, reader = load_compiled(model_dir, 256)
        return cls(tuple(locator_card.input_shape), locator, reader, service_thresholds())

    def read(self, images: list[Image.Image], options: MeterOptions) -> list[dict[str, Any] | None]:
        """Each image's result through the service's steps (None: refused, as the service would)."""
        return read_images(images, options, self.locator_shape, self.locator, self.reader, self.thresholds)


@dataclass
class MeterRetrainer:
    """The meter's part of `retrain` (`recognition_common.retraining.Retrainer`)."""

    args: argparse.Namespace
    task: str = "meter"
    work_root: Path = REPO_ROOT / "training-runs" / "meter"
    training: tuple[np.ndarray, np.ndarray] | None = None  # written by `prepare`: uint8 crops, classes
    models: dict[Path, Served] = field(default_factory=dict)  # each model directory loaded once

    @property
    def real(self) -> bool:
        return self.args.data.exists()

    @cached_property
    def real_crops(self) -> RealCrops:
        return load_real(self.args.data, progress=not self.args.quiet)

    @cached_property
    def evaluation_crops(self) -> tuple[np.ndarray, np.ndarray]:
        """uint8 crops and classes: the real held-out test split, else rendered whole digits."""
        if self.real:
            test = self.real_crops.splits["test"]
            return test.pixels, test.labels
        return synthetic_crops(self.args.evaluate, SYNTHETIC_EVAL_SEED, whole_share=1.0)

    @cached_property
    def evaluation_strips(self) -> list[MeterSample]:
        """Windows of real held-out crops (`evaluate`'s section 5): a reader a little better at
        single wheels can still read fewer whole strips (measured: 12/12 -> 11/12 clean CC BY strips)."""
        return (
            composed_strips(self.real_crops.splits["test"], COMPOSED_STRIPS, COMPOSED_SEED)
            if self.real
            else []
        )

    def served(self, model_dir: Path) -> Served:
        if model_dir not in self.models:
            self.models[model_dir] = Served.load(model_dir)
        return self.models[model_dir]

    def prepare(self, train: list[CorrectionFile], held: list[CorrectionFile], work: Path) -> dict[str, Any]:
        args = self.args
        wheels, labels, left_out = correction_wheels(train, self.served(args.models_dir / args.model))
        if not len(labels):
            raise ValueError(
                f"no window was found in any of the {len(train)} corrections (or all were blank): "
                "nothing to train on"
            )
        rng = np.random.default_rng(args.seed)
        synthetic = round(args.mix * SYNTHETIC_SHARE) if self.real else args.mix
        parts = [synthetic_crops(synthetic, args.seed)]
        if self.real:
            split = self.real_crops.splits["train"]
            picks = rng.choice(len(split), size=min(args.mix - synthetic, len(split)), replace=False)
            parts.append((split.pixels[picks], split.labels[picks]))
        mixed = sum(len(part[1]) for part in parts)
        repeat = max(1, round(CORRECTION_SHARE * mixed / ((1 - CORRECTION_SHARE) * len(labels))))
        parts.append((np.repeat(wheels, repeat, axis=0), np.repeat(labels, repeat)))
        self.training = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
        source = (
            f"the train split of {args.data.name} and rendered wheels" if self.real else "rendered wheels"
        )
        print(
            f"training on {len(labels)} wheels from {len(train) - left_out} corrections (x{repeat}) and "
            f"{mixed} crops of {source}; {left_out} corrections left out (refused: blank, or no window found)"
        )
        return {
            "corrections": len(train),
            "left_out_refused": left_out,
            "correction_wheels": len(labels),
            "rolling_wheels": int(np.sum(labels % 10 != 0)),
            "repeated": repeat,
            "mixed": f"{mixed} crops of {source}",
        }

    def fine_tune(self, model_dir: Path, work: Path) -> Path:
        args, card = self.args, read_card(model_dir)
        assert self.training is not None, "prepare() first"
        keras.utils.set_random_seed(args.seed)
        model = keras.saving.load_model(model_dir / MODEL_FILE, compile=False)
        model.compile(
            optimizer=keras.optimizers.Adam(args.learning_rate), loss=keras.losses.CategoricalCrossentropy()
        )
        pixels, labels = self.training
        model.fit(
            make_dataset(pixels, labels, args.batch_size, True, args.seed, LABEL_SIGMA),
            epochs=args.epochs,
            shuffle=False,  # the pipeline shuffles
            verbose=0 if args.quiet else (1 if sys.stdout.isatty() else 2),
        )
        out = work / "out" / card.name
        # The locator (a sub-directory) as it is; the reader's own files are replaced below.
        replaced = {MODEL_FILE, HISTORY_FILE, CURVE_FILE}
        shutil.copytree(
            model_dir,
            out,
            ignore=lambda folder, names: [n for n in names if Path(folder) == model_dir and n in replaced],
        )
        # The served architecture rebuilt: one reader, or as many averaged as the served model had.
        members = ensemble_members(model)
        servable = servable_copy(lambda: build_ensemble(members), model.get_weights())
        keras.saving.save_model(servable, out / MODEL_FILE)
        training_data = dict(card.training_data)
        training_data["fine_tuned_on_corrections"] = {
            "from_version": card.version,
            "epochs": args.epochs,
            "learning_rate": args.learning_rate,
            "training_crops": len(labels),
        }
        update = {
            "version": next_version(card.version),
            "training_data": training_data,
            "metrics": {},
            "created": date.today().isoformat(),
        }
        write_card(out, card.model_copy(update=update))
        return out

    def task_scores(self, model_dir: Path) -> dict[str, Score]:
        served = self.served(model_dir)
        pixels, labels = self.evaluation_crops
        positions, _ = read_positions(served.reader, reader_input(pixels))
        whole = int(np.sum(labels % 10 == 0))  # the crops whole_digit_accuracy counts
        crops = (
            f"whole digits of the held-out test split of {self.args.data.name}"
            if self.real
            else f"{self.args.evaluate} rendered whole digits, seed {SYNTHETIC_EVAL_SEED}"
        )
        scores = {crops: Score(score_positions(positions, labels)["whole_digit_accuracy"], whole)}
        if self.evaluation_strips:
            strips = self.evaluation_strips
            options = MeterOptions(mode="window")
            outcomes = read_samples(
                strips, options, served.locator_shape, served.locator, served.reader, served.thresholds
            )
            name = (
                f"{len(strips)} windows of held-out real crops (seed {COMPOSED_SEED}) read right, not refused"
            )
            scores[name] = Score(float(np.mean([o.right and not o.rejected for o in outcomes])), len(strips))
        return scores

    def corrections_accuracy(self, model_dir: Path, held: list[CorrectionFile]) -> float:
        results = self.served(model_dir).read([Image.open(c.path) for c in held], MeterOptions())
        right = [
            result is not None and result["text"] == correction.label and not result["rejected"]
            for correction, result in zip(held, results, strict=True)
        ]
        return float(np.mean(right))


def correction_wheels(
    corrections: list[CorrectionFile], served: Served
) -> tuple[np.ndarray, np.ndarray, int]:
    """The wheels of each correction as the service cuts them, labelled from its reading:
    uint8 (N, 32, 20, 3) crops and class indices (tenths), and how many corrections were left out
    (refused as the service would: blank, or no window found)."""
    jobs: list[tuple[CorrectionFile, pipeline.Job]] = []
    for correction in corrections:
        options = MeterOptions(wheels=len(correction.label))
        try:
            jobs.append(
                (correction, pipeline.start(Image.open(correction.path), options, served.locator_shape))
            )
        except ApiError:
            continue
    refused = locate_jobs([job for _, job in jobs], served.locator)
    crops: list[np.ndarray] = []
    labels: list[int] = []
    for index, (correction, job) in enumerate(jobs):
        if index in refused:
            continue
        digits = np.array([int(d) for d in correction.label])
        best: tuple[float, np.ndarray, list[float]] | None = None
        for candidate in pipeline.cut(job).candidates:  # the alignment most like the reading
            probabilities = served.reader(candidate.cells)
            readings = decode_wheels(probabilities)
            mass = [_mass_near(p, d) for p, d in zip(probabilities, digits, strict=True)]
            score = float(np.sum(np.log(np.maximum(mass, 1e-6))))
            if best is None or score > best[0]:
                best = (score, candidate.cells, [r.position for r in readings])
        assert best is not None
        _, cells, positions = best
        crops.append(np.round(cells * 255).astype(np.uint8))
        labels += [wheel_class(position, digit) for position, digit in zip(positions, digits, strict=True)]
    pixels = np.concatenate(crops) if crops else np.zeros((0, 32, 20, 3), np.uint8)
    return pixels, np.asarray(labels, np.int32), len(corrections) - len(crops)


def wheel_class(position: float, digit: int) -> int:
    """A wheel's training class: its labelled digit, or where it stands when the served reader
    sees it rolling from that digit towards the next (a reading floors a rolling wheel)."""
    past = (position - digit) % 10
    if ROLLING[0] <= past <= ROLLING[1]:
        return round((digit + past) * 10) % NUM_CLASSES
    return digit * 10


def _mass_near(probabilities: np.ndarray, digit: int) -> float:
    """The probability that a wheel shows `digit`: stands from half a digit below it to just
    under the next (rolling past it, which the reading floors to it)."""
    classes = np.arange(digit * 10 - 5, digit * 10 + 10) % NUM_CLASSES
    return float(probabilities[classes].sum())


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv, prog)
    retrain(MeterRetrainer(args), args, ["python", "-m", "meter_service.cli", "retrain", *argv])
