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
    },
}
FALLBACKS: dict[str, Any] = {
    "description": "CRNN-CTC captcha reader.",
    "charset": None,
    "min_length": None,
    "max_length": None,
    "width": 100,
    "height": 60,
    "generate": 0,
    "epochs": 10,
    "target": 1.01,  # never stop early unless asked
}


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), help="a shipped model's recipe (its name by default)"
    )
    parser.add_argument("--name", help="model name = directory under --out (default: the preset)")
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
    parser.add_argument("--min-length", type=int)
    parser.add_argument("--max-length", type=int)
    parser.add_argument("--width", type=int)
    parser.add_argument("--height", type=int)
    parser.add_argument("--epochs", type=int, help="at most this many epochs")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--gru-units", type=int, default=128)
    parser.add_argument(
        "--target", type=float, help="stop once validation whole-captcha accuracy reaches this"
    )
    parser.add_argument(
        "--augment", action="store_true", help="augment training images (small real datasets)"
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
