"""UCI optdigits' 8x8 digits as a folder of uploads, for `digit_service.cli evaluate --data`.

The one real handwritten collection at hand: 1,797 digits by 43 writers, each a 32x32 bitmap
counted in 4x4 blocks (grey levels 0-16), as scikit-learn ships it
(`sklearn/datasets/data/digits.csv.gz`; inside its wheel, so no download is needed where
scikit-learn is installed). Each digit is scaled up 4x to 32x32, with hard (`nearest/`) or smooth
(`bilinear/`) pixels, dark on light with a margin of 8 px, and written to
`<out>/<nearest|bilinear>/<label>/<index>.png`:

    python scripts/uci_digits_to_folder.py <site-packages>/sklearn/datasets/data/digits.csv.gz /tmp/uci8
    python -m digit_service.cli evaluate --model-dir digit-service/models/cnn --data /tmp/uci8/nearest
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import numpy as np
from PIL import Image

SCALE = 4  # 8x8 -> 32x32
MARGIN = 8  # px of paper round the digit
LEVELS = 16  # optdigits counts 16 pixels a block


def write_folders(csv_gz: Path, out: Path) -> int:
    """Write both folders; returns the number of digits in each."""
    with gzip.open(csv_gz) as table:
        rows = np.loadtxt(table, delimiter=",")
    digits, labels = rows[:, :64].reshape(-1, 8, 8) / LEVELS, rows[:, 64].astype(int)
    for name, resample in (("nearest", Image.Resampling.NEAREST), ("bilinear", Image.Resampling.BILINEAR)):
        for index, (digit, label) in enumerate(zip(digits, labels, strict=True)):
            small = Image.fromarray((255 - digit * 255).astype(np.uint8), mode="L")
            large = np.asarray(small.resize((8 * SCALE, 8 * SCALE), resample))
            folder = out / name / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.pad(large, MARGIN, constant_values=255)).save(folder / f"{index:04d}.png")
    return len(labels)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv_gz", type=Path, help="scikit-learn's sklearn/datasets/data/digits.csv.gz")
    parser.add_argument("out", type=Path, help="where the nearest/ and bilinear/ folders go")
    args = parser.parse_args(argv)
    if not args.csv_gz.is_file():
        parser.error(f"{args.csv_gz} not found: scikit-learn's sklearn/datasets/data/digits.csv.gz")
    count = write_folders(args.csv_gz, args.out)
    print(f"wrote {count} digits to {args.out / 'nearest'} and {args.out / 'bilinear'}")


if __name__ == "__main__":
    main()
