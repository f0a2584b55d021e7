"""Greedy CTC decoding in numpy: per-timestep probabilities in, text and per-character confidence out.

The model emits, for each horizontal slice of the image (a timestep), a probability over the
blank (index 0) and every character. Greedy decoding takes the best class per timestep, merges
repeats and drops blanks ("-aa-b--b" reads "abb"). A character's confidence is the highest
probability among the timesteps that emitted it: the model's belief at the point it was surest
the character was there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLANK = 0
BLANK_LABEL = "<blank>"


@dataclass(frozen=True)
class Decoded:
    text: str
    confidences: list[float]  # one per character of `text`


def greedy_decode(probabilities: np.ndarray, charset: str) -> Decoded:
    """Decode one sample's (timesteps, 1 + len(charset)) probabilities."""
    if probabilities.ndim != 2 or probabilities.shape[1] != len(charset) + 1:
        raise ValueError(f"expected (timesteps, {len(charset) + 1}) probabilities, got {probabilities.shape}")
    best = np.argmax(probabilities, axis=1)
    peak = probabilities[np.arange(len(best)), best]
    chars: list[str] = []
    confidences: list[float] = []
    previous = BLANK
    for index, confidence in zip(best.tolist(), peak.tolist(), strict=True):
        if index != BLANK:
            if index != previous:
                chars.append(charset[index - 1])
                confidences.append(confidence)
            else:  # the same character continues over another timestep
                confidences[-1] = max(confidences[-1], confidence)
        previous = index
    return Decoded("".join(chars), confidences)


def decode_batch(probabilities: np.ndarray, charset: str) -> list[str]:
    """Texts of a (batch, timesteps, classes) array; what training and evaluation compare."""
    return [greedy_decode(sample, charset).text for sample in probabilities]


def encode_labels(labels: list[str], charset: str, max_length: int) -> np.ndarray:
    """(n, max_length) int32 class indices, padded with BLANK; the CTC loss's targets."""
    index = {char: i + 1 for i, char in enumerate(charset)}
    encoded = np.zeros((len(labels), max_length), dtype=np.int32)
    for row, label in enumerate(labels):
        encoded[row, : len(label)] = [index[char] for char in label]
    return encoded
