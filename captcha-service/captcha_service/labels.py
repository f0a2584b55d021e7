"""Labels of captcha image files, and the character sets models read.

A labelled image is named `<label>_<anything>.png` or `<label>.png`: the label is the file name up
to the first `_` or `.`. That is nickliqian/cnn_captcha's convention, so its datasets work as they
are, and the generate command writes the same.
"""

from __future__ import annotations

import string
from pathlib import Path

DIGITS_LOWER = string.digits + string.ascii_lowercase
DIGITS_UPPER = string.digits + string.ascii_uppercase
# Names usable on the command line for `--charset`; anything else is taken literally.
CHARSETS = {
    "digits": string.digits,
    "lower": string.ascii_lowercase,
    "upper": string.ascii_uppercase,
    "digits+lower": DIGITS_LOWER,
    "digits+upper": DIGITS_UPPER,
    "digits+letters": string.digits + string.ascii_letters,
}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")


def label_of(path: Path | str) -> str:
    """The label a file name carries: everything before the first `_` or `.`."""
    name = Path(path).name
    cut = min((i for i in (name.find("_"), name.find(".")) if i >= 0), default=len(name))
    return name[:cut]


def resolve_charset(value: str) -> str:
    """A named character set (see CHARSETS) or the literal characters, deduplicated, in order."""
    chars = CHARSETS.get(value, value)
    return "".join(dict.fromkeys(chars))


def infer_charset(labels: list[str]) -> str:
    """The characters the labels use, sorted: what a model trained on them can read."""
    return "".join(sorted(set("".join(labels))))


def list_images(folder: Path) -> list[Path]:
    """Image files directly in `folder` (not in sub-folders), sorted for reproducible order."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
