"""Command-line options of `train` and `evaluate`, kept apart so `--help` needs no TensorFlow."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

SERVICE_ROOT = Path(__file__).resolve().parents[2]
REPO_ROOT = SERVICE_ROOT.parent
DEFAULT_OUT = SERVICE_ROOT / "models"
DEFAULT_CHECKPOINTS = REPO_ROOT / "training-runs" / "captcha"

# The shipped models' recipes; `make train-captcha` runs both. Any flag overrides its preset.
PRESETS: dict[str, dict[str, Any]] = {
    "default": {
        "description": "Reads 4-character captchas of 0-9a-z rendered by ImageCaptcha at 100x60.",
        "charset": "digits+lower",
        "min_length": 4,
        "max_length": 4,
        "width": 100,
        "height": 60,
        "generate": 60_000,
        "epochs": 30,
        "target": 0.975,
        "plateau_patience": 1,
    },
    "alnum-4to6": {
        "description": "Reads 4 to 6-character captchas of 0-9A-Z rendered by ImageCaptcha at 160x60.",
        "charset": "digits+upper",
        "min_length": 4,
        "max_length": 6,
        "width": 160,
        "height": 60,
        "generate": 60_000,
        "epochs": 40,
        "target": 0.93,
        "plateau_patience": 1,
    },
}
FALLBACKS: dict[str, Any] = {
    "description": "CRNN-CTC captcha reader.",
    "charset": None,
    "min_length": None,
    "max_length": None,
    "width": None,  # --data: chosen from the images (sizing.py); --generate: 100x60
    "height": None,
    "generate": 0,
    "epochs": None,  # --data: 200 (early stopping and --time-limit end it); --generate: 10
    "target": 1.01,  # never stop early on accuracy unless asked
    # Epochs without a validation-loss improvement before the learning rate is cut (never while
    # the model still reads only blanks). 1 cut the rate inside CTC's all-blank plateau on small
    # folders and training never left it; 4 took 2,869 images from 0% to 90.8% (issue 13).
    "plateau_patience": 4,
}


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), help="a shipped model's recipe (its name by default)"
    )
    parser.add_argument(
        "--name",
        help="the model's name, as clients choose it (model=...) and its folder under --out; "
        "default: the preset's, else the --data folder's name",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: %(default)s")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", type=Path, help="folder of <label>_<id>.png (flat, or train/ + test/)")
    source.add_argument("--generate", type=int, help="train on N captchas generated in memory")
    parser.add_argument("--validation", type=int, default=2000, help="generated validation captchas")
    parser.add_argument(
        "--charset",
        help="characters or a name (digits+lower, digits+upper, ...); "
        "default: inferred from the labels of --data",
    )
    parser.add_argument("--min-length", type=int, help="default: the shortest label of --data")
    parser.add_argument("--max-length", type=int, help="default: the longest label of --data")
    parser.add_argument("--width", type=int, help="model input width; default: chosen from the images")
    parser.add_argument("--height", type=int, help="model input height; default: chosen from the images")
    parser.add_argument(
        "--from",
        dest="from_model",
        metavar="MODEL",
        help="start from a trained model: a name under --out (e.g. default), a model folder, 'auto' "
        "(the shipped model reading most of the charset; the default with --data) or 'none' (fresh "
        "weights; the default with --generate). Its convolutions and GRU are reused, the output "
        "layer is rebuilt for the new charset",
    )
    parser.add_argument("--epochs", type=int, help="at most this many epochs")
    parser.add_argument(
        "--time-limit",
        type=float,
        help="minutes; no epoch starts that would end past it (default with --data: 15)",
    )
    parser.add_argument(
        "--patience", type=int, default=12, help="stop after this many epochs without a better validation"
    )
    parser.add_argument(
        "--min-accuracy",
        type=float,
        default=0.5,
        help="whole-captcha accuracy on the held-out test images below which the model is left in "
        "--checkpoints instead of installed into --out (default: %(default)s)",
    )
    parser.add_argument("--batch-size", type=int, help="default: 32 with --data, 64 with --generate")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--gru-units", type=int, default=128)
    parser.add_argument(
        "--target", type=float, help="stop once validation whole-captcha accuracy reaches this"
    )
    parser.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        help="distort every training batch afresh (augment.py); default: off (it did not help on the "
        "measured folders; README)",
    )
    parser.add_argument(
        "--seed", type=int, default=42, help="training data and weights; validation uses seed+1"
    )
    parser.add_argument("--workers", type=int, default=2, help="processes generating captchas")
    parser.add_argument("--checkpoints", type=Path, default=DEFAULT_CHECKPOINTS, help="default: %(default)s")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint of --name")
    parser.add_argument("--version", default="1.0.0", dest="model_version")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-dir", type=Path, required=True, help="e.g. captcha-service/models/default")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="folder of <label>_<id>.png images")
    source.add_argument("--generate", type=int, help="evaluate on N freshly generated captchas (card's spec)")
    parser.add_argument("--seed", type=int, default=2026, help="for --generate; differs from training seeds")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--top-confusions", type=int, default=10)
    parser.add_argument("--write-card", action="store_true", help="merge the figures into the model's card")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
