"""How right a set of readings is: whole-captcha accuracy, character accuracy, confusions.

Character accuracy is 1 - (edit distance / characters), summed over the set: with variable
lengths a position-by-position comparison would count every character after a missed one as
wrong, while the edit distance counts the one miss.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


@dataclass(frozen=True)
class Score:
    samples: int
    whole_accuracy: float
    char_accuracy: float


def score(truths: list[str], predictions: list[str]) -> Score:
    if len(truths) != len(predictions):
        raise ValueError("truths and predictions differ in length")
    if not truths:
        return Score(0, 0.0, 0.0)
    whole = sum(t == p for t, p in zip(truths, predictions, strict=True)) / len(truths)
    errors = sum(edit_distance(t, p) for t, p in zip(truths, predictions, strict=True))
    chars = sum(len(t) for t in truths)
    return Score(len(truths), whole, max(0.0, 1.0 - errors / chars))


def confusions(truths: list[str], predictions: list[str]) -> Counter[tuple[str, str]]:
    """(true, read) character pairs that differ, where lengths agree (substitutions only)."""
    counts: Counter[tuple[str, str]] = Counter()
    for truth, prediction in zip(truths, predictions, strict=True):
        if len(truth) == len(prediction):
            counts.update((t, p) for t, p in zip(truth, prediction, strict=True) if t != p)
    return counts
