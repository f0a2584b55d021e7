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
# Names usable on the command line for `--charset`, alone or joined by `+` ("digits+upper");
# anything else is taken as the characters themselves, each listed once.
CHARSETS = {
    "digits": string.digits,
    "lower": string.ascii_lowercase,
    "upper": string.ascii_uppercase,
    "letters": string.ascii_letters,
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
    """A named character set (see CHARSETS, `+` joins names) or the literal characters, in order.

    A word that is no name is a mistake, not a charset: `klingon` would otherwise read as the
    characters "klingo". Literal characters are told apart by listing each once (a word with a
    repeated letter, like `klingon` or `lowercase`, is refused) and by having no `+` between
    lower-case words.
    """
    if not value:
        raise ValueError("--charset is empty")
    if value in CHARSETS:
        return CHARSETS[value]
    parts = value.split("+")
    if len(parts) > 1 and all(part in CHARSETS for part in parts):
        return "".join(dict.fromkeys("".join(CHARSETS[part] for part in parts)))
    names = ", ".join(CHARSETS)
    looks_named = len(parts) > 1 and any(
        part.isalpha() and part.islower() and len(part) > 2 for part in parts
    )
    if looks_named or len(set(value)) != len(value):
        raise ValueError(
            f"--charset {value!r} is not a charset name ({names}, or names joined by +), "
            "nor a list of characters each given once"
        )
    return value


def infer_charset(labels: list[str]) -> str:
    """The characters the labels use, sorted: what a model trained on them can read."""
    return "".join(sorted(set("".join(labels))))


def list_images(folder: Path) -> list[Path]:
    """Image files directly in `folder` (not in sub-folders), sorted for reproducible order."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
