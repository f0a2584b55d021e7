"""Rendering captchas with the `captcha` package (the images the seed project trained on).

`captcha.image` draws its randomness from the `secrets` module, which cannot be seeded. For
reproducible datasets `render` swaps in a seeded stand-in for the duration of one call. That swap
is process-global, so seeded rendering is done in worker processes (see `generate_arrays`), never
in the service's threads; the service renders unseeded samples for `GET /captcha/`.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from typing import Any

import captcha.image as captcha_image
import numpy as np
from captcha.image import ImageCaptcha
from PIL import Image

from captcha_service.preprocess import to_pixels

CHUNK = 500  # samples per worker task; each chunk has its own seed, so output is worker-independent


@dataclass(frozen=True)
class CaptchaSpec:
    """What captchas look like: characters, length range and image size."""

    charset: str
    min_length: int
    max_length: int
    width: int
    height: int

    def __post_init__(self) -> None:
        if not self.charset:
            raise ValueError("empty charset")
        if not 1 <= self.min_length <= self.max_length:
            raise ValueError(
                f"bad length range {self.min_length}-{self.max_length}: --min-length must be at least 1 "
                "and not above --max-length"
            )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _SeededSecrets:
    """The three `secrets` functions `captcha.image` calls, backed by a seeded `random.Random`."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def randbelow(self, n: int) -> int:
        return self._rng.randrange(n)

    def randbits(self, k: int) -> int:
        return self._rng.getrandbits(k)

    def choice(self, seq: Sequence[Any]) -> Any:
        return self._rng.choice(seq)


@contextlib.contextmanager
def _seeded(rng: random.Random) -> Iterator[None]:
    original = captcha_image.secrets
    captcha_image.secrets = _SeededSecrets(rng)  # type: ignore[assignment]
    try:
        yield
    finally:
        captcha_image.secrets = original


def random_text(rng: random.Random, spec: CaptchaSpec) -> str:
    length = rng.randint(spec.min_length, spec.max_length)
    return "".join(rng.choice(spec.charset) for _ in range(length))


def render(text: str, width: int, height: int, rng: random.Random | None = None) -> Image.Image:
    """One captcha image of `text`; reproducible when `rng` is given (single-threaded use only)."""
    generator = ImageCaptcha(width=width, height=height)
    if rng is None:
        return generator.generate_image(text)
    with _seeded(rng):
        return generator.generate_image(text)


def _chunk_seed(seed: int, chunk: int) -> int:
    return seed * 1_000_003 + chunk


def render_chunk(spec: CaptchaSpec, seed: int, chunk: int, count: int) -> list[tuple[str, Image.Image]]:
    """`count` (text, image) pairs, fully determined by (spec, seed, chunk)."""
    rng = random.Random(_chunk_seed(seed, chunk))
    generator = ImageCaptcha(width=spec.width, height=spec.height)
    samples = []
    with _seeded(rng):
        for _ in range(count):
            text = random_text(rng, spec)
            samples.append((text, generator.generate_image(text)))
    return samples


def _pixels_chunk(args: tuple[CaptchaSpec, int, int, int]) -> tuple[list[str], np.ndarray]:
    spec, seed, chunk, count = args
    samples = render_chunk(spec, seed, chunk, count)
    pixels = np.stack([to_pixels(image, spec.width, spec.height) for _, image in samples])
    return [text for text, _ in samples], pixels


def chunk_tasks(spec: CaptchaSpec, count: int, seed: int) -> list[tuple[CaptchaSpec, int, int, int]]:
    return [
        (spec, seed, chunk, min(CHUNK, count - start)) for chunk, start in enumerate(range(0, count, CHUNK))
    ]


def generate_arrays(
    spec: CaptchaSpec, count: int, seed: int, workers: int = 2, progress: bool = True
) -> tuple[list[str], np.ndarray]:
    """`count` labelled captchas in memory as uint8 (count, height, width) grey pixels.

    The same (spec, count, seed) gives the same data whatever `workers` is: chunks are seeded by
    their index and collected in order.
    """
    from tqdm import tqdm

    tasks = chunk_tasks(spec, count, seed)
    labels: list[str] = []
    parts: list[np.ndarray] = []
    bar = tqdm(total=count, desc="generate", unit="img", disable=not progress)
    if workers <= 1 or len(tasks) == 1:
        results: Iterator[tuple[list[str], np.ndarray]] = map(_pixels_chunk, tasks)
        for texts, pixels in results:
            labels += texts
            parts.append(pixels)
            bar.update(len(texts))
    else:
        with get_context("spawn").Pool(workers) as pool:
            for texts, pixels in pool.imap(_pixels_chunk, tasks):
                labels += texts
                parts.append(pixels)
                bar.update(len(texts))
    bar.close()
    return labels, np.concatenate(parts)
