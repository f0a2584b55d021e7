"""Real counter strips: the meter reader on real windows, the way a utility would try it.

A folder of real counter-window photos with a `labels.csv` in the layout of
`shared/data/meter-windows-ccby/` (file, reading, digit_boxes `x0 y0 x1 y1 digit;...`, flags).
Each strip is read in window mode through the service's own steps, with the wheels counted
(`wheels=auto`, the service's default) and, for comparison, with the count given. A TEST set:
nothing here trains on it.

A strip is judged whole when its reading is complete: `flags` empty (clean), or only a rolling last
wheel, for which both digits in view are accepted ("last wheel between 2 and 3, labelled 2").
Strips with an unlabelled wheel count for the per-wheel figures alone: each labelled box is
matched to the wheel under its centre.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from meter_service.pipeline import MeterOptions, Thresholds
from recognition_common.calibration import expected_calibration_error

Predict = Callable[[np.ndarray], np.ndarray]
_ROLLING_LAST = re.compile(r"^rolling wheel: last wheel between (\d) and (\d)")


@dataclass
class Strip:
    """One labelled real strip."""

    file: Path
    reading: str  # the labelled digits, left to right (fewer than the wheels when one has no box)
    boxes: list[tuple[float, int]]  # (box centre x as a share of the width, digit), left to right
    flags: str
    wheels: int  # wheels in the strip (8 in the CC BY set)
    accepted: set[str] = field(default_factory=set)  # whole readings judged right; empty: not judged

    @property
    def clean(self) -> bool:
        return not self.flags


@dataclass
class StripOutcome:
    strip: Strip
    text: str
    confidence: float
    rejected: bool
    wheels: int
    positions: list[float]

    @property
    def judged(self) -> bool:
        return bool(self.strip.accepted)

    @property
    def right(self) -> bool:
        return self.text in self.strip.accepted

    def wheel_hits(self) -> list[bool]:
        """Per labelled wheel: whether the digit read under its centre is the labelled one (or,
        for a rolling last wheel, either digit in view)."""
        hits = []
        alternatives = {text[-1] for text in self.strip.accepted} if self.strip.accepted else set()
        for index, (centre, digit) in enumerate(self.strip.boxes):
            wheel = min(int(centre * len(self.text)), len(self.text) - 1)
            read = self.text[wheel]
            last = index == len(self.strip.boxes) - 1 and wheel == len(self.text) - 1
            hits.append(read == str(digit) or (last and read in alternatives))
        return hits


def load_strips(folder: Path, wheels: int = 8) -> list[Strip]:
    """The strips of `folder`/labels.csv; raises FileNotFoundError naming what is missing."""
    labels = folder / "labels.csv"
    if not labels.is_file():
        raise FileNotFoundError(f"{labels} not found")
    strips = []
    with labels.open(newline="") as handle:
        for row in csv.DictReader(handle):
            path = folder / row["file"]
            width = Image.open(path).width
            boxes = []
            for box in filter(None, row["digit_boxes"].split(";")):
                x0, _, x1, _, digit = box.split()
                boxes.append(((float(x0) + float(x1)) / 2 / width, int(digit)))
            strip = Strip(path, row["reading"], boxes, row["flags"].strip(), wheels)
            rolling = _ROLLING_LAST.match(strip.flags)
            if strip.clean and len(strip.reading) == wheels:
                strip.accepted = {strip.reading}
            elif rolling and len(strip.reading) == wheels:
                strip.accepted = {
                    strip.reading[:-1] + rolling.group(1),
                    strip.reading[:-1] + rolling.group(2),
                }
            strips.append(strip)
    return strips


def read_strips(
    strips: list[Strip],
    wheels: int | None,
    locator: Predict,
    reader: Predict,
    locator_shape: tuple[int, ...],
    thresholds: Thresholds,
) -> list[StripOutcome]:
    """Every strip through the service's steps in window mode (`wheels` None: counted)."""
    from meter_service.training.evaluate import read_images

    options = MeterOptions(mode="window", wheels=wheels)
    images: list[Image.Image] = [Image.open(strip.file) for strip in strips]
    results = read_images(images, options, locator_shape, locator, reader, thresholds)
    outcomes = []
    for strip, result in zip(strips, results, strict=True):
        assert result is not None  # window mode always reads
        outcomes.append(
            StripOutcome(
                strip,
                result["text"],
                float(result["confidence"]),
                bool(result["rejected"]),
                len(result["digits"]),
                [digit["position"] for digit in result["digits"]],
            )
        )
    return outcomes


def strip_figures(outcomes: list[StripOutcome]) -> dict[str, Any]:
    """Exact reading (clean strips, and every judged strip), per-wheel accuracy, the wheel count,
    refusals, right among the accepted and the calibration of the overall confidence."""
    judged = [o for o in outcomes if o.judged]
    clean = [o for o in judged if o.strip.clean]
    accepted = [o for o in judged if not o.rejected]
    hits = [hit for o in outcomes for hit in o.wheel_hits()]

    def share(flags: list[bool]) -> float:
        return round(float(np.mean(flags)), 4) if flags else 0.0

    return {
        "strips": len(outcomes),
        "clean_strips": len(clean),
        "clean_right": sum(o.right for o in clean),
        "exact_reading_clean": share([o.right for o in clean]),
        "judged_strips": len(judged),
        "exact_reading_judged": share([o.right for o in judged]),
        "per_wheel_accuracy": share(hits),
        "labelled_wheels": len(hits),
        "wheel_count_right": share([o.wheels == o.strip.wheels for o in outcomes]),
        "refused": share([o.rejected for o in judged]),
        "right_among_accepted": share([o.right for o in accepted]),
        "confidence_ece": round(
            expected_calibration_error([o.confidence for o in judged], [o.right for o in judged]), 4
        ),
    }


def report_strips(title: str, outcomes: list[StripOutcome], show: int) -> dict[str, Any]:
    figures = strip_figures(outcomes)
    print(f"{title}:")
    print(
        f"   clean strips read exactly: {figures['clean_right']}/{figures['clean_strips']}   "
        f"judged strips (clean + rolling last wheel): {figures['exact_reading_judged']:.4f} "
        f"of {figures['judged_strips']}"
    )
    print(
        f"   per wheel {figures['per_wheel_accuracy']:.4f} of {figures['labelled_wheels']} labelled; "
        f"wheels counted right {figures['wheel_count_right']:.4f}; refused {figures['refused']:.4f}; "
        f"right among accepted {figures['right_among_accepted']:.4f}; "
        f"confidence ECE {figures['confidence_ece']:.4f}"
    )
    wrong = [o for o in outcomes if o.judged and not o.right]
    if wrong and show:
        print(
            "   misread (file: true -> read): "
            + ", ".join(
                f"{o.strip.file.name}: {o.strip.reading}->{o.text}{' (refused)' if o.rejected else ''}"
                for o in wrong[:show]
            )
        )
    return figures
