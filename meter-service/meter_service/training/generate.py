"""`generate`: write N synthetic meter photos as JPEGs plus one `labels.jsonl`, reproducibly.

    python -m meter_service.cli generate --out photos/ --count 200 --seed 7 [--wheels 5]

Sample i is drawn from `synth.sample_rng(seed, i)`, so the same seed gives the same files
whatever the count, and the first 100 of a 1000-photo set are the 100-photo set. Each line of
`labels.jsonl` is one photo: {"file", "text", "value", "positions", "corners", "wheels", "style"}
with corners TL, TR, BR, BL of the wheel row in image pixels.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from meter_service.odometer import MAX_WHEELS, MIN_WHEELS
from meter_service.synth import generate_meter, sample_rng

LABELS_FILE = "labels.jsonl"


def parse_wheels(text: str) -> tuple[int, int]:
    """ "5" -> (5, 5); "4-8" -> (4, 8): the wheel counts to draw from."""
    low, _, high = text.partition("-")
    bounds = (int(low), int(high or low))
    if not MIN_WHEELS <= bounds[0] <= bounds[1] <= MAX_WHEELS:
        raise argparse.ArgumentTypeError(f"wheels must lie in {MIN_WHEELS}..{MAX_WHEELS}: {text!r}")
    return bounds


def wheels_for(seed: int, index: int, wheels: int | tuple[int, int]) -> int:
    """The wheel count of sample `index`: fixed, or drawn from a range (seeded apart from the photo)."""
    if isinstance(wheels, int):
        return wheels
    low, high = wheels
    return int(sample_rng(seed + 7_919, index).integers(low, high + 1))


def generate_dataset(
    out: Path, count: int, seed: int, wheels: int | tuple[int, int] = 5, progress: bool = False
) -> Path:
    """Write `count` photos and their labels into `out`; returns the labels file."""
    out.mkdir(parents=True, exist_ok=True)
    labels_path = out / LABELS_FILE
    indices = range(count)
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc="generate", unit="photo")
    with labels_path.open("w", encoding="utf-8") as labels:
        for index in indices:
            sample = generate_meter(sample_rng(seed, index), wheels=wheels_for(seed, index, wheels))
            name = f"{index:06d}_{sample.text}.jpg"
            sample.image.save(out / name, quality=95)
            labels.write(json.dumps({"file": name, **sample.label()}) + "\n")
    return labels_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="folder to write into (created)")
    parser.add_argument("-n", "--count", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--wheels",
        type=parse_wheels,
        default=(5, 5),
        help='wheels per meter, "5" or a range "4-8" (default 5)',
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> Path:
    low, high = args.wheels
    path = generate_dataset(
        args.out, args.count, args.seed, low if low == high else (low, high), not args.quiet
    )
    print(f"wrote {args.count} photos and {path}")
    return path


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    run(parser.parse_args(argv))
