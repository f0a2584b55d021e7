"""`retrain`: users' corrections in, a better captcha model served, or a clear reason why not.

    python -m captcha_service.cli retrain --feedback http://127.0.0.1:8000 [--model default] \\
        [--service http://127.0.0.1:8002]            # = make retrain-captcha

1. The corrections of `--model`, from the gateway's export (`--feedback URL`, with `--api-key`
   when keys are on) or a zip saved from it; a fifth held out, the same ones every time
   (`recognition_common.retraining`); images stored with two labels are left out.
2. A training folder: the rest of the corrections, repeated so that they are about a third of
   it (each copy augmented differently), mixed with `--mix` captchas generated in the model's own
   style and size (what the shipped models learned, so the new one does not forget it) or the
   images of `--original FOLDER`.
3. The served model fine-tuned on it (`train --from` the model, its charset, lengths and size kept).
4. Old and new read the task's own evaluation (`--evaluate` fresh generated captchas, seed 2026)
   and the held-out corrections.
5. Installed as the next version under the same name when no worse on the first (by more than
   `--tolerance`, by default one standard error of the served model's accuracy there: the
   evaluation's own noise) and better on the second; the replaced model is kept in
   `models/.history/`. The service is asked to reload (`--service`, `--admin-token` or
   CAPTCHA_ADMIN_TOKEN). Otherwise the new model stays in the work folder, the served one is
   untouched, and the command exits with status 1.

Steps 1 and 5 and the verdict are every task's (`recognition_common.retraining.retrain`); this
module is the captcha's part: its training folder, its fine-tuning and its two measures.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from captcha_service.card import CaptchaCard
from captcha_service.recognizer import card_charset
from captcha_service.synth import CaptchaSpec, random_text, render
from captcha_service.training.options import DEFAULT_CHECKPOINTS, DEFAULT_OUT
from recognition_common.retraining import CorrectionFile, Score, add_retrain_arguments, next_version, retrain
from recognition_common.serving.model_card import read_card

EVALUATION_SEED = 2026  # the task's own evaluation (make evaluate-captcha)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_retrain_arguments(parser, "captcha", DEFAULT_OUT, "CAPTCHA_ADMIN_TOKEN")
    parser.add_argument("--mix", type=int, default=4000, help="generated captchas mixed in (default 4000)")
    parser.add_argument(
        "--original", type=Path, help="a folder of the model's own training images, to mix instead"
    )
    parser.add_argument(
        "--evaluate", type=int, default=1000, help="generated captchas to evaluate on (default 1000)"
    )
    parser.add_argument("--time-limit", type=float, default=10.0, help="minutes of fine-tuning (default 10)")
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=2e-4,
        help="a fifth of training's: the served model is moved, not retrained (default %(default)s)",
    )
    parser.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="distort the training images (off by default: the model already reads its own style)",
    )


@dataclass
class CaptchaRetrainer:
    """The captcha's part of `retrain` (`recognition_common.retraining.Retrainer`)."""

    args: argparse.Namespace
    task: str = "captcha"
    work_root: Path = DEFAULT_CHECKPOINTS
    held_out_folder: Path | None = None  # written by `prepare`

    def prepare(self, train: list[CorrectionFile], held: list[CorrectionFile], work: Path) -> dict[str, Any]:
        """The corrections, repeated to about a third of the folder, and the original style
        mixed in; the held-out ones in a folder of their own."""
        card = read_card(self.args.models_dir / self.args.model, CaptchaCard)
        spec = CaptchaSpec(card_charset(card), card.min_length, card.longest, card.width, card.height)
        folder = work / "data"
        folder.mkdir(parents=True)
        mixed = 0
        if self.args.original is not None:
            for path in sorted(self.args.original.rglob("*.png")):
                shutil.copy(path, folder / path.name)
                mixed += 1
        else:
            rng = random.Random(self.args.seed)
            for index in range(self.args.mix):
                text = random_text(rng, spec)
                render(text, spec.width, spec.height, rng).save(folder / f"{text}_generated{index}.png")
            mixed = self.args.mix
        repeat = max(1, round(mixed / (2 * len(train))))
        for correction in train:
            for copy in range(repeat):
                name = f"{correction.label}_{correction.id}-{copy}{correction.path.suffix}"
                shutil.copy(correction.path, folder / name)
        self.held_out_folder = work / "held-out"
        self.held_out_folder.mkdir(parents=True)
        for correction in held:
            name = f"{correction.label}_{correction.id}{correction.path.suffix}"
            shutil.copy(correction.path, self.held_out_folder / name)
        return {"corrections": len(train), "repeated": repeat, "mixed": mixed}

    def fine_tune(self, model_dir: Path, work: Path) -> Path:
        """`train --from model_dir`, the model's own charset, lengths and size."""
        from captcha_service.training import train
        from captcha_service.training.options import add_train_arguments

        args, card = self.args, read_card(model_dir, CaptchaCard)
        parser = argparse.ArgumentParser()
        add_train_arguments(parser)
        argv = [
            "--data", str(work / "data"), "--from", str(model_dir), "--name", card.name,
            "--out", str(work / "out"), "--checkpoints", str(work / "checkpoints"),
            "--charset", card_charset(card),
            "--min-length", str(card.min_length), "--max-length", str(card.longest),
            "--width", str(card.width), "--height", str(card.height),
            "--min-accuracy", "0", "--time-limit", str(args.time_limit),
            "--learning-rate", str(args.learning_rate),
            "--augment" if args.augment else "--no-augment",
            "--version", next_version(card.version), "--seed", str(args.seed),
            *(["--quiet"] if args.quiet else []),
        ]  # fmt: skip
        return train.run(parser.parse_args(argv), argv)

    def task_scores(self, model_dir: Path) -> dict[str, Score]:
        name = f"whole captchas of {self.args.evaluate} generated, seed {EVALUATION_SEED}"
        return {name: Score(self._accuracy(model_dir, None), self.args.evaluate)}

    def corrections_accuracy(self, model_dir: Path, held: list[CorrectionFile]) -> float:
        """On the folder `prepare` wrote them to."""
        assert self.held_out_folder is not None, "prepare() first"
        return self._accuracy(model_dir, self.held_out_folder)

    def _accuracy(self, model_dir: Path, data: Path | None) -> float:
        """Whole-captcha accuracy on the generated evaluation set, or on a folder."""
        from captcha_service.training import evaluate

        options = argparse.Namespace(
            model_dir=model_dir,
            generate=None if data else self.args.evaluate,
            data=data,
            seed=EVALUATION_SEED,
            workers=2,
            batch_size=256,
            top_confusions=5,
            write_card=False,
            quiet=True,
        )
        return float(evaluate.run(options)["test_whole_accuracy"])


def run(args: argparse.Namespace, argv: list[str] | None = None) -> dict[str, Any]:
    from recognition_common.serving.models import configure_tensorflow

    configure_tensorflow()
    return retrain(
        CaptchaRetrainer(args), args, ["python", "-m", "captcha_service.cli", "retrain", *(argv or [])]
    )


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    """The command line: its options (`add_arguments`), then `run` with the words it was given."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    run(parser.parse_args(argv), argv)
