"""From the reader's per-wheel outputs to the reading a person would write down.

The reader says where each wheel stands in tenths (`reader.decode_wheel`); this module turns those
positions into the answer: the digits (the odometer rule of `odometer.resolve_digits` settles a
wheel caught between two digits by what its right neighbour shows), the value with the last
wheel's roll as its fraction, each wheel's state, an overall confidence and whether to reject.
Pure functions of the reader's output, shared by the service and the evaluate command.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from meter_service import odometer
from meter_service.reader import WheelReading, class_of

# A wheel further than this (in digits) from a whole digit is `rolling`: caught between two
# digits. The reader resolves tenths and a clean digit often reads +/-0.1 off, so 0.15 keeps
# those clean while 0.2 and beyond (a fifth of a digit scrolled away) counts as rolling.
ROLLING_MARGIN = 0.15


def snap(position: float) -> float:
    """A position rounded to the reader's resolution, a tenth, in [0, 10).

    The reader's classes are tenths; the mean it decodes lands between them (a clean 3 may read
    2.97). Rounding first means the last wheel, whose digit is the one it has passed (floor),
    reads 3 there rather than 2, and the value's fraction is a tenth like the classes.
    """
    return class_of(position) / 10


@dataclass(frozen=True)
class WheelState:
    """One wheel as the answer reports it, leftmost first."""

    digit: int  # the digit it shows, after the odometer rule
    confidence: float
    position: float  # where it stands, 0..10 (the reader's estimate, to a tenth)
    fraction: float  # how far it has turned from `digit` towards the next digit, 0..1
    rolling: bool  # caught between `digit` and `next_digit`
    next_digit: int | None  # the digit rolling in; None when not rolling

    def to_json(self) -> dict[str, Any]:
        return {
            "digit": self.digit,
            "confidence": round(self.confidence, 4),
            "rolling": self.rolling,
            "fraction": round(self.fraction, 2),
            "next_digit": self.next_digit,
            "position": round(self.position, 2),
        }


@dataclass(frozen=True)
class Reading:
    text: str  # digits as shown, leading zeros kept: "02572"
    value: float  # 2572.4: the last wheel's roll is the fraction
    confidence: float
    wheels: list[WheelState]
    low_confidence: list[int]  # 1-based wheels below the threshold

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "value": self.value,
            "confidence": round(self.confidence, 4),
            "digits": [wheel.to_json() for wheel in self.wheels],
        }


def compose(readings: Sequence[WheelReading], min_confidence: float) -> Reading:
    """The reading of a row of wheels, leftmost first.

    Each wheel is read where it appears in its cell; the shift the row's wheels share (their
    drums' mounting, the cut's height: `odometer.resting_offset`) is taken off every wheel first,
    so a last wheel at 2.92 in a window cut a little high still reads 2.9, not 3.

    The overall confidence is the product of the wheels' confidences: the reading is right only
    if every wheel is, and the wheels are read independently, so the product estimates that
    chance (the minimum would call a reading with five 0.8 wheels as sure as one with a single
    0.8 wheel). The same rule as the captcha service's characters.
    """
    offset = odometer.resting_offset([reading.position for reading in readings])
    positions = [snap(reading.position - offset) for reading in readings]
    digits = odometer.resolve_digits(positions)
    wheels = []
    for position, digit, reading in zip(positions, digits, readings, strict=True):
        # Signed distance from the shown digit, round the circle: 3.5 shown as 3 -> +0.5; 3.9
        # shown as 4 (its neighbour has gone round) -> -0.1, a wheel lagging a little behind
        # the carry: it shows its digit, not rolling. The last wheel shows the digit it has
        # passed, so it rolls at any offset past the margin (2.9: from 2, 3 rolling in).
        offset = (position - digit + 5) % 10 - 5
        rolling = offset > ROLLING_MARGIN
        wheels.append(
            WheelState(
                digit=digit,
                confidence=reading.confidence,
                position=position,
                fraction=min(max(offset, 0.0), 0.99),
                rolling=rolling,
                next_digit=(digit + 1) % 10 if rolling else None,
            )
        )
    confidence = math.prod(reading.confidence for reading in readings) if readings else 0.0
    low = [index + 1 for index, reading in enumerate(readings) if reading.confidence < min_confidence]
    return Reading(
        text="".join(str(digit) for digit in digits),
        value=odometer.value_of(digits, positions[-1]) if positions else 0.0,
        confidence=confidence,
        wheels=wheels,
        low_confidence=low,
    )
