"""How far a recognizer's confidence can be trusted: expected calibration error.

A confidence is calibrated when, of the answers given with confidence about 0.9, about 90% are
right. The expected calibration error (ECE) bins the answers by confidence and averages, weighted
by each bin's share, the gap between the bin's mean confidence and its accuracy: 0 is perfectly
calibrated, and an over-confident recognizer (sure and wrong) scores high. Every task's evaluate
command reports it beside accuracy, so a rejection threshold is chosen from measured figures.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BINS = 10


def expected_calibration_error(
    confidences: Sequence[float] | np.ndarray, correct: Sequence[bool] | np.ndarray, bins: int = BINS
) -> float:
    """ECE over `bins` equal-width confidence bins; 0.0 for no answers."""
    confidence = np.clip(np.asarray(confidences, dtype=np.float64), 0.0, 1.0)
    right = np.asarray(correct, dtype=bool)
    if confidence.shape != right.shape:
        raise ValueError(f"{confidence.shape} confidences for {right.shape} outcomes")
    if not confidence.size:
        return 0.0
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    error = 0.0
    for index in range(bins):
        members = which == index
        if members.any():
            error += members.mean() * abs(confidence[members].mean() - right[members].mean())
    return float(error)


def reliability(
    confidences: Sequence[float] | np.ndarray, correct: Sequence[bool] | np.ndarray, bins: int = BINS
) -> list[dict[str, float]]:
    """Per non-empty bin: its confidence range, answers, mean confidence and accuracy."""
    confidence = np.clip(np.asarray(confidences, dtype=np.float64), 0.0, 1.0)
    right = np.asarray(correct, dtype=bool)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    rows = []
    for index in range(bins):
        members = which == index
        if members.any():
            rows.append(
                {
                    "from": index / bins,
                    "to": (index + 1) / bins,
                    "answers": int(members.sum()),
                    "confidence": round(float(confidence[members].mean()), 4),
                    "accuracy": round(float(right[members].mean()), 4),
                }
            )
    return rows
