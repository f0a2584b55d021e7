"""Train the whole meter model: the window locator, then the wheel reader, into one model folder.

The meter is two models, each with its own command and every option (`train-locator`,
`train-reader`). This command runs both with the options they share, so that the meter trains
with `train` as every task does (`make train-meter` runs it, then `evaluate --write-card`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from meter_service.training import locator, reader


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=reader.DEFAULT_DATA, help="meterdigits.tar.gz or its unpacked folder"
    )
    parser.add_argument(
        "--out", type=Path, default=reader.DEFAULT_MODELS, help="models folder (default: %(default)s)"
    )
    parser.add_argument(
        "--name",
        default=reader.DEFAULT_NAME,
        help="the model's name and its folder under --out; the locator goes to <out>/<name>/locator/",
    )
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    if not args.data.exists():  # said now, not after the locator's half hour of training
        raise FileNotFoundError(2, "No such file or directory", str(args.data))
    shared = ["--out", str(args.out), "--name", args.name, "--seed", str(args.seed)]
    command = prog or "train"
    locator.main([*shared, "--data", str(args.data)], prog=f"{command} (locator)")
    # The recipe was chosen on the validation split; the reader shipped learns from it too.
    reader.main([*shared, "--data", str(args.data), "--fit-validation"], prog=f"{command} (reader)")
