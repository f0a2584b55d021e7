"""Training images as the service will see them: MNIST in many styles, and marks that are no digit.

The service never feeds the model a raw MNIST image: it feeds what pre-processing makes of an
upload. So the training set is built the same way: every training digit goes through
`prepare_single_digit` once as it is and once more in a random style from
`digit_service.styles` (binarised, 16x16 scaled up, blocky, stretched, thick, hairline, slanted),
and a share of junk (dots, scribbles, blobs, letters) goes through it too, labelled `JUNK_LABEL`.
On request (`handwriting_share`; `train --handwriting-share`, off in the shipped recipes, see the
service's README) a share of the styled copies is first redrawn in another hand. On request
(`pair_share`; `train --pair-share`, off in the shipped recipes because it costs real digits
confidence) a share of two training digits whose strokes touch (`styles.touching_values`) goes
through it too, taken as one: a pair is no digit, so the whole reading of two touching digits
loses to the split one (`preprocess.choose_readings`) instead of passing as a wide 0 or 8.
`soft_targets` turns that label into an even spread over the ten digits, so the model learns to be
unsure on junk (outlier exposure, Hendrycks et al. 2019) and the service can refuse it.

Rendering takes ~1 ms an image, so it runs in worker processes (spawned: the trainer has
TensorFlow's threads running), in chunks whose random generator is seeded by (seed, chunk), so the
set is the same for a seed whatever the number of processes.
"""

from __future__ import annotations

import multiprocessing

import numpy as np

from digit_service import styles
from digit_service.preprocess import prepare_single_digit
from recognition_common.edge.errors import ApiError

JUNK_LABEL = -1
CHUNK = 2000
NUM_CLASSES = 10
STYLED = tuple(name for name in styles.STYLES if name != "clean")
# A pair is drawn in its own proportions: the styles that stretch a digit to a square box would
# squeeze two digits into one digit's shape, which a user's pair never is.
PAIR_STYLES = ("clean", "binary", "postal16", "thick", "thin", "slanted")


def describe(junk_share: float, pair_share: float = 0.0, handwriting_share: float = 0.0) -> str:
    """One line for the model card."""
    pairs = (
        f", and {pair_share:.0%} as many pairs of touching training digits taken as one "
        f"({', '.join(PAIR_STYLES)})"
        if pair_share
        else ""
    )
    hands = (
        f", {handwriting_share:.0%} of those first redrawn in another hand (elastic distortion, "
        "narrower or wider; styles.handwriting)"
        if handwriting_share
        else ""
    )
    return (
        "each training digit through the service's pre-processing twice: as it is, and in one "
        f"random rendered style ({', '.join(STYLED)}; digit_service.styles){hands}; plus "
        f"{junk_share:.0%} as many junk marks ({', '.join(styles.JUNK_KINDS)}){pairs}, with an "
        "even target over the ten digits (outlier exposure)"
    )


def render_training_set(
    images: np.ndarray,
    labels: np.ndarray,
    seed: int,
    *,
    junk_share: float = 0.1,
    pair_share: float = 0.0,
    handwriting_share: float = 0.0,
    processes: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """(x, y): uint8 (N, 28, 28) MNIST digits -> float32 (M, 28, 28, 1) inputs and int64 labels.
    `handwriting_share` of the styled copies are first redrawn in another hand
    (`styles.handwriting`); at 0 the set is drawn exactly as before the option existed."""
    jobs: list[tuple[str, np.ndarray | None, np.ndarray, int, int, float]] = [
        (
            "digits",
            images[start : start + CHUNK],
            labels[start : start + CHUNK],
            seed,
            index,
            handwriting_share,
        )
        for index, start in enumerate(range(0, len(labels), CHUNK))
    ]
    junk_count = round(junk_share * len(labels))
    jobs += [
        ("junk", None, np.full(min(CHUNK, junk_count - start), JUNK_LABEL), seed, len(jobs) + index, 0.0)
        for index, start in enumerate(range(0, junk_count, CHUNK))
    ]
    # Pairs of training digits (drawn once, here, so a chunk needs only its own images).
    pair_count = round(pair_share * len(labels))
    partners = np.random.default_rng([seed, 1]).integers(0, len(labels), size=(pair_count, 2))
    jobs += [
        ("pairs", images[chunk], np.full(len(chunk), JUNK_LABEL), seed, len(jobs) + index, 0.0)
        for index, chunk in enumerate(np.array_split(partners, range(CHUNK, pair_count, CHUNK)))
        if len(chunk)
    ]
    if processes > 1:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            parts = pool.starmap(_render_chunk, jobs)
    else:
        parts = [_render_chunk(*job) for job in jobs]
    x = np.concatenate([part[0] for part in parts])[..., np.newaxis]
    y = np.concatenate([part[1] for part in parts])
    return x, y


def _render_chunk(
    kind: str, images: np.ndarray | None, labels: np.ndarray, seed: int, chunk: int, handwriting_share: float
) -> tuple[np.ndarray, np.ndarray]:
    """One chunk: digits (each as it is and in a random style), junk marks, or touching pairs."""
    rng = np.random.default_rng([seed, chunk])
    samples: list[np.ndarray] = []
    kept: list[int] = []
    if kind == "junk":
        for _ in labels:
            try:
                image = styles.junk(str(rng.choice(styles.JUNK_KINDS)), rng, size=140)
                samples.append(prepare_single_digit(image))
            except ApiError:  # too small to be seen at all: refused as empty, nothing to learn
                continue
            kept.append(JUNK_LABEL)
    elif kind == "pairs":
        assert images is not None
        for pair in images:
            values = styles.touching_values(list(pair), rng, height=int(rng.integers(60, 120)))
            style = styles.STYLES[str(rng.choice(PAIR_STYLES))]
            try:
                samples.append(prepare_single_digit(styles.framed(style(values, rng))))
            except ApiError:
                continue
            kept.append(JUNK_LABEL)
    else:
        assert images is not None
        for digit, label in zip(images, labels, strict=True):
            for style_name in ("clean", str(rng.choice(STYLED))):
                # Drawn by another hand first, on request; the share is tested before the
                # generator is asked, so at 0 it draws exactly what it drew without the option.
                another_hand = (
                    style_name != "clean" and handwriting_share > 0 and rng.random() < handwriting_share
                )
                source = styles.handwriting(digit, rng) if another_hand else digit
                try:
                    samples.append(
                        prepare_single_digit(styles.framed(styles.STYLES[style_name](source, rng)))
                    )
                except ApiError:
                    continue
                kept.append(int(label))
    return np.stack(samples).astype(np.float32), np.asarray(kept, dtype=np.int64)


def soft_targets(labels: np.ndarray) -> np.ndarray:
    """One-hot targets, and an even 1/10 over the digits for `JUNK_LABEL`."""
    targets = np.full((len(labels), NUM_CLASSES), 1.0 / NUM_CLASSES, dtype=np.float32)
    digits = labels != JUNK_LABEL
    targets[digits] = np.eye(NUM_CLASSES, dtype=np.float32)[labels[digits]]
    return targets
