"""The model's input size, chosen from the images: nobody should need to know what the net needs.

The CRNN reads any height and width (3 poolings halve the height, 2 halve the width: one timestep
per 4 columns), but two things matter:

* CTC needs at least 2 x (longest label) + 1 timesteps (a blank between repeated characters), so
  the width must be at least 4 x that;
* cost grows with the pixels, and captchas taller than 64 pixels carry no more detail a 3-layer
  net can use, so tall images are scaled down (keeping the aspect ratio) and tiny ones up to 32.

The most common image size sets the shape; images of other sizes are fitted into it keeping their
aspect ratio and padded (`preprocess.to_pixels(..., "pad")`), and the service does the same with
uploads, so the card's `resize` says `pad`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

MIN_HEIGHT, MAX_HEIGHT = 32, 64
TIMESTEP_COLUMNS = 4  # input columns per CTC timestep (the two 2x2 poolings)


@dataclass(frozen=True)
class InputSize:
    width: int
    height: int
    resize: str  # preprocess.RESIZE_MODES
    why: str  # one line for the training log and the card


def image_sizes(paths: Iterable[Path]) -> Counter[tuple[int, int]]:
    """(width, height) counts, read from the headers only (fast, even for thousands of files)."""
    sizes: Counter[tuple[int, int]] = Counter()
    for path in paths:
        try:
            with Image.open(path) as image:
                sizes[image.size] += 1
        except OSError:
            continue  # unreadable: load_folder names it
    return sizes


def choose_input_size(
    sizes: Counter[tuple[int, int]], max_length: int, height: int | None = None
) -> InputSize:
    """The input size for images mostly of the commonest size; `height` fixes it (fine-tuning)."""
    if not sizes:
        raise ValueError("no readable images to size the model by")
    (common_width, common_height), count = sizes.most_common(1)[0]
    target_height = height or min(MAX_HEIGHT, max(MIN_HEIGHT, common_height))
    width = round(common_width * target_height / common_height)
    needed = TIMESTEP_COLUMNS * (2 * max_length + 1)
    width = max(width, needed)
    share = count / sum(sizes.values())
    why = (
        f"{share:.0%} of the images are {common_width}x{common_height}; "
        f"model input {width}x{target_height}, aspect ratio kept, padded where it differs"
    )
    return InputSize(width, target_height, "pad", why)
