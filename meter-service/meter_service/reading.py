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

# A wheel at least this far (in digits) from the digit the reading shows for it is `rolling`:
# both digits are in view, caught between them. The reader resolves tenths and a clean digit
# often reads +/-0.1 or 0.2 off (a drum mounted a little high or low), so only a quarter of a
# digit scrolled away or more counts: "about half-way".
ROLLING_MARGIN = 0.25


def snap(position: float) -> float:
    """A position rounded to the reader's resolution, a tenth, in [0, 10).

    The reader's classes are tenths; the mean it decodes lands between them (a clean 3 may read
    2.97). Rounding first means the last wheel, whose digit is the one it has passed (floor),
    reads 3 there rather than 2, and the value's fraction is a tenth like the classes.
    """
    return class_of(position) / 10


@dataclass(frozen=True)
class WheelState:
    """One wheel as the answer reports it, leftmost first.

    A wheel at rest has `digit`, the digit the reading's text shows for it. A rolling wheel has
    two digits in view: it is turning from `digit` to `next_digit` and is `fraction` of the way
    there; the text shows whichever of the two fills more of its window (the lower at half-way).
    """

    digit: int
    confidence: float
    position: float  # where it stands, 0..10 (the reader's estimate, to a tenth)
    fraction: float  # how far it has turned from `digit` towards the next digit, 0..1
    rolling: bool  # caught between `digit` and `next_digit`
    next_digit: int | None  # the digit rolling in; None when not rolling
    red: bool = False  # a red (decimal) wheel

    def to_json(self) -> dict[str, Any]:
        return {
            "digit": self.digit,
            "confidence": round(self.confidence, 4),
            "rolling": self.rolling,
            "fraction": round(self.fraction, 2),
            "next_digit": self.next_digit,
            "position": round(self.position, 2),
            "red": self.red,
        }


@dataclass(frozen=True)
class Reading:
    text: str  # digits as shown, leading zeros kept: "02572"
    value: float  # 2572.4: the last wheel's roll is the fraction; decimal wheels after the point
    confidence: float
    wheels: list[WheelState]
    low_confidence: list[int]  # 1-based wheels below the threshold
    decimals: int = 0  # how many of the last wheels count fractions (red wheels)

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "value": self.value,
            "decimals": self.decimals,
            "confidence": round(self.confidence, 4),
            "digits": [wheel.to_json() for wheel in self.wheels],
        }


def wheel_state(position: float, shown_digit: int, confidence: float, red: bool = False) -> WheelState:
    """A wheel standing at `position` that the reading shows as `shown_digit`."""
    offset = (position - shown_digit + 5) % 10 - 5  # signed, round the circle: 9.6 shown as 0 -> -0.4
    if offset >= ROLLING_MARGIN - 1e-9:  # on its way from the shown digit to the next
        digit, fraction, rolling = shown_digit, offset, True
    elif offset <= -ROLLING_MARGIN + 1e-9:  # most of the way from the digit before to the shown one
        digit, fraction, rolling = (shown_digit - 1) % 10, 1 + offset, True
    else:
        digit, fraction, rolling = shown_digit, max(offset, 0.0), False
    return WheelState(
        digit=digit,
        confidence=confidence,
        position=position,
        fraction=min(fraction, 0.99),
        rolling=rolling,
        next_digit=(digit + 1) % 10 if rolling else None,
        red=red,
    )


def compose(readings: Sequence[WheelReading], min_confidence: float, decimals: int = 0) -> Reading:
    """The reading of a row of wheels, leftmost first; the last `decimals` of them count tenths,
    hundredths... of the unit (a 5+3 meter at 00409.550 has the value 409.55).

    Each wheel is read where it appears in its cell; the shift the row's wheels share (their
    drums' mounting, the cut's height: `odometer.resting_offset`) is taken off every wheel first.
    Then `odometer.shown` gives the digits a person reads (each wheel the digit that fills most
    of its window) and the continuous count.

    The overall confidence is the product of the wheels' confidences: the reading is right only
    if every wheel is, and the wheels are read independently, so the product estimates that
    chance (the minimum would call a reading with five 0.8 wheels as sure as one with a single
    0.8 wheel). The same rule as the captcha service's characters.
    """
    offset = odometer.resting_offset([reading.position for reading in readings])
    positions = [snap(reading.position - offset) for reading in readings]
    digits, count = odometer.shown(positions)
    first_red = len(readings) - decimals
    wheels = [
        wheel_state(position, digit, reading.confidence, red=index >= first_red)
        for index, (position, digit, reading) in enumerate(zip(positions, digits, readings, strict=True))
    ]
    confidence = math.prod(reading.confidence for reading in readings) if readings else 0.0
    low = [index + 1 for index, reading in enumerate(readings) if reading.confidence < min_confidence]
    return Reading(
        text="".join(str(digit) for digit in digits),
        value=round(count / 10**decimals, 3 + decimals),
        confidence=confidence,
        wheels=wheels,
        low_confidence=low,
        decimals=decimals,
    )
