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
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from captcha_service.synth import CaptchaSpec, random_text, render
from captcha_service.training.options import DEFAULT_CHECKPOINTS, DEFAULT_OUT
from recognition_common.model_card import read_card, update_card_metrics
from recognition_common.retraining import (
    CorrectionFile,
    Verdict,
    fetch_corrections,
    install,
    next_version,
    request_reload,
    split_corrections,
    standard_error,
)

EVALUATION_SEED = 2026  # the task's own evaluation (make evaluate-captcha)
MIN_CORRECTIONS = 10  # fewer to train on than this teaches nothing and proves nothing


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--feedback",
        required=True,
        help="the gateway's base URL, or a corrections export (.zip) saved from it",
    )
    parser.add_argument(
        "--api-key", default=os.environ.get("RECOGNITION_API_KEY"), help="X-API-Key for the gateway"
    )
    parser.add_argument(
        "--model", default="default", help="the served model to improve (default: %(default)s)"
    )
    parser.add_argument("--models-dir", type=Path, default=DEFAULT_OUT, help="default: %(default)s")
    parser.add_argument(
        "--work", type=Path, help="work folder (default: training-runs/captcha/retrain-<model>)"
    )
    parser.add_argument("--mix", type=int, default=4000, help="generated captchas mixed in (default 4000)")
    parser.add_argument(
        "--original", type=Path, help="a folder of the model's own training images, to mix instead"
    )
    parser.add_argument(
        "--held-out", type=float, default=0.2, help="share of corrections held out (default 0.2)"
    )
    parser.add_argument(
        "--evaluate", type=int, default=1000, help="generated captchas to evaluate on (default 1000)"
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.005,
        help="how much worse on the evaluation still counts as no worse",
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
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--service", help="the captcha service's URL, asked to reload once installed")
    parser.add_argument(
        "--admin-token", default=os.environ.get("CAPTCHA_ADMIN_TOKEN"), help="its admin token"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _training_folder(
    args: argparse.Namespace, corrections: list[CorrectionFile], spec: CaptchaSpec, folder: Path
) -> dict[str, Any]:
    """The corrections, repeated to about a third of the folder, and the original style mixed in."""
    folder.mkdir(parents=True)
    mixed = 0
    if args.original is not None:
        for path in sorted(args.original.rglob("*.png")):
            shutil.copy(path, folder / path.name)
            mixed += 1
    else:
        rng = random.Random(args.seed)
        for index in range(args.mix):
            text = random_text(rng, spec)
            render(text, spec.width, spec.height, rng).save(folder / f"{text}_generated{index}.png")
        mixed = args.mix
    repeat = max(1, round(mixed / (2 * len(corrections))))
    for correction in corrections:
        for copy in range(repeat):
            shutil.copy(
                correction.path, folder / f"{correction.label}_{correction.id}-{copy}{correction.path.suffix}"
            )
    return {"corrections": len(corrections), "repeated": repeat, "mixed": mixed}


def _held_out_folder(corrections: list[CorrectionFile], folder: Path) -> None:
    folder.mkdir(parents=True)
    for correction in corrections:
        shutil.copy(correction.path, folder / f"{correction.label}_{correction.id}{correction.path.suffix}")


def _accuracy(model_dir: Path, args: argparse.Namespace, data: Path | None) -> float:
    """Whole-captcha accuracy of `model_dir` on the generated evaluation set or a folder."""
    from captcha_service.training import evaluate

    options = argparse.Namespace(
        model_dir=model_dir,
        generate=None if data else args.evaluate,
        data=data,
        seed=EVALUATION_SEED,
        workers=2,
        batch_size=256,
        top_confusions=5,
        write_card=False,
        quiet=True,
    )
    return float(evaluate.run(options)["test_whole_accuracy"])


def _fine_tune(args: argparse.Namespace, model_dir: Path, data: Path, work: Path) -> Path:
    """`train --from model_dir --data data`, the model's own charset, lengths and size; the new
    model directory in the work folder."""
    from captcha_service.training import train
    from captcha_service.training.options import add_train_arguments

    card = read_card(model_dir)
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    argv = [
        "--data", str(data), "--from", str(model_dir), "--name", card.name,
        "--out", str(work / "out"), "--checkpoints", str(work / "checkpoints"),
        "--charset", card.charset, "--min-length", str(card.min_length), "--max-length", str(card.max_length),
        "--width", str(card.width), "--height", str(card.height),
        "--min-accuracy", "0", "--time-limit", str(args.time_limit),
        "--learning-rate", str(args.learning_rate),
        "--augment" if args.augment else "--no-augment",
        "--version", next_version(card.version), "--seed", str(args.seed),
        *(["--quiet"] if args.quiet else []),
    ]  # fmt: skip
    return train.run(parser.parse_args(argv), argv)


def run(args: argparse.Namespace, argv: list[str] | None = None) -> dict[str, Any]:
    from recognition_common.models import configure_tensorflow

    configure_tensorflow()
    model_dir = args.models_dir / args.model
    if not (model_dir / "card.json").is_file():
        raise FileNotFoundError(2, "No such file or directory", str(model_dir / "card.json"))
    card = read_card(model_dir)
    work = args.work or DEFAULT_CHECKPOINTS / f"retrain-{args.model}"
    if work.exists():
        work = work.with_name(f"{work.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    started = time.perf_counter()

    everything = fetch_corrections(args.feedback, "captcha", work / "export", args.api_key)
    mine = [c for c in everything if c.model in ("", args.model)]
    train_part, held = split_corrections(mine, args.held_out)
    print(
        f"{len(mine)} corrections of {args.model} ({len(everything)} in the export): "
        f"{len(train_part)} to train on, {len(held)} held out, "
        f"{len(mine) - len(train_part) - len(held)} left out (one image, two labels)"
    )
    if len(train_part) < MIN_CORRECTIONS or not held:
        raise ValueError(
            f"too few corrections of {args.model} to retrain on: {len(train_part)} to train on and "
            f"{len(held)} held out (at least {MIN_CORRECTIONS} and 1); collect more with the pages' "
            "'Wrong? Correct it' or POST /api/v1/captcha/feedback"
        )
    spec = CaptchaSpec(card.charset, card.min_length, card.max_length, card.width, card.height)
    mixture = _training_folder(args, train_part, spec, work / "data")
    _held_out_folder(held, work / "held-out")
    new_dir = _fine_tune(args, model_dir, work / "data", work)

    old_task = _accuracy(model_dir, args, None)
    verdict = Verdict(
        old_task=old_task,
        new_task=_accuracy(new_dir, args, None),
        old_corrections=_accuracy(model_dir, args, work / "held-out"),
        new_corrections=_accuracy(new_dir, args, work / "held-out"),
        tolerance=args.tolerance if args.tolerance is not None else standard_error(old_task, args.evaluate),
    )
    new_card = read_card(new_dir)
    figures = {
        "task_evaluation": f"{args.evaluate} generated captchas, seed {EVALUATION_SEED}",
        "tolerance": round(verdict.tolerance, 4),
        "held_out_corrections": len(held),
        "before": {"task": verdict.old_task, "corrections": verdict.old_corrections, "version": card.version},
        "after": {
            "task": verdict.new_task,
            "corrections": verdict.new_corrections,
            "version": new_card.version,
        },
        "training": mixture,
        "installed": verdict.install,
        "retrained_with": shlex.join(["python", "-m", "captcha_service.cli", "retrain", *(argv or [])]),
    }
    update_card_metrics(new_dir, {"retrained_from_corrections": figures})
    print(f"\n{args.model}: {card.version} (served) -> {new_card.version} (fine-tuned on corrections)")
    evaluation = figures["task_evaluation"]
    print(f"  task's evaluation ({evaluation}): {verdict.old_task:.4f} -> {verdict.new_task:.4f}")
    print(
        f"  {len(held)} held-out corrections: {verdict.old_corrections:.4f} -> {verdict.new_corrections:.4f}"
    )
    print(f"  {verdict.reason()} ({time.perf_counter() - started:.0f} s in all)")
    if not verdict.install:
        print(f"  the served model is unchanged; the new one is in {new_dir}", file=sys.stderr)
        raise SystemExit(1)
    target, kept = install(new_dir, args.models_dir, args.model)
    print(f"  installed {target} ({new_card.version}); the previous model is kept in {kept}")
    if args.service:
        reloaded = request_reload(args.service, args.admin_token)
        print(f"  {args.service} reloaded: {reloaded}")
    else:
        print("  reload the service to serve it: POST /v1/admin/reload, SIGHUP, or a restart")
    return figures
