"""Fetch MNIST with Keras' loader (needs internet) into the .npz the digit commands read.

    python -m digit_service.cli download [--out ../shared/data/mnist.npz]

Only this command downloads; training and evaluation read the file and, without it, say in one
line how to get it. The file holds x_train, y_train, x_test and y_test as Keras gives them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import keras
import numpy as np

from digit_service.training.train import DEFAULT_DATA


def download(out: Path) -> Path:
    """MNIST from Keras' loader, written compressed to `out` (its folder created)."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return out


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_DATA, help="default: %(default)s")
    args = parser.parse_args(argv)
    print("wrote", download(args.out))
