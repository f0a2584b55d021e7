"""How the wheels of a mechanical counter move together, and how a reading follows from them.

A wheel's *position* is a float in [0, 10): 3.0 shows a clean 3, 3.5 is half-way from 3 to 4.
The last (rightmost) wheel turns continuously with the flow. Every other wheel is carried like an
odometer's: it stands still on its digit and only turns while the wheel to its right goes from 9
to 0, so its fraction equals the fraction of that last tenth. This is what lets a reader resolve
a wheel caught mid-roll: its digit is the one that, with the carry its right neighbour implies,
best explains where it stands.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence

MIN_WHEELS, MAX_WHEELS = 4, 8  # the counters the service reads and the generator draws


def carry_of(right_position: float) -> float:
    """How far (0..1) a wheel has been carried by its right neighbour standing at `right_position`."""
    return min(max(right_position - 9.0, 0.0), 1.0)


def wheel_positions(value: float, wheels: int) -> list[float]:
    """Where each wheel stands, leftmost first, when the counter has run `value` units.

    `value` wraps at 10**wheels like a real counter; its fraction is the last wheel's roll.
    """
    value = value % 10**wheels
    positions = [0.0] * wheels
    positions[-1] = value % 10
    for index in range(wheels - 2, -1, -1):
        digit = int(value // 10 ** (wheels - 1 - index)) % 10
        positions[index] = digit + carry_of(positions[index + 1])
    return positions


def resolve_digits(positions: Sequence[float]) -> list[int]:
    """The digits a person reads off the wheels, resolving wheels caught mid-roll.

    Right to left: the last wheel shows the digit it has passed (floor); each other wheel shows
    the digit nearest to its position once the carry implied by its (resolved) right neighbour
    is taken off, so a noisy 3.5 reads 3 while the wheel to its right is still at 9.5 and 4 once
    that one has gone round.
    """
    if not positions:
        return []
    digits = [0] * len(positions)
    right = positions[-1] % 10
    digits[-1] = math.floor(right) % 10
    for index in range(len(positions) - 2, -1, -1):
        carry = carry_of(right)
        digit = math.floor(positions[index] - carry + 0.5) % 10
        digits[index] = digit
        right = digit + carry  # where this wheel stands if it agrees with its neighbour
    return digits


# A wheel whose right neighbour stands at or past this may be being carried (a neighbour at 9.1
# could carry it a tenth), so it cannot tell where whole digits sit.
CARRY_FROM = 8.9
MAX_REST_RESIDUAL = 0.2  # a wheel at rest further than this from a whole digit is misread, not offset
MAX_OFFSET = 0.15  # the most a row's drums and its cut can shift every wheel, in digits


def resting_offset(positions: Sequence[float]) -> float:
    """How far the wheels at rest in a row stand, together, from their whole digits (median).

    A reader of one cell sees where the digits sit in that cell, and every wheel of a row shares
    what moves them all: the drums' common axle mounted a little high or low, and a window cut a
    little above or below the row. That shift looks exactly like a wheel turned a little further
    (or less far): on its own, a last wheel at 2.92 in a row cut a little high is a centred 3.
    Wheels that are not being carried stand on whole digits, so their common residual measures
    the shift; `compose` takes it off every wheel before reading. 0.0 when no wheel is at rest.
    """
    residuals = []
    for position, right in itertools.pairwise(positions):
        if right % 10 >= CARRY_FROM:
            continue  # possibly being carried: not a reference
        residual = (position - round(position) + 0.5) % 1 - 0.5
        if abs(residual) <= MAX_REST_RESIDUAL:
            residuals.append(residual)
    if not residuals:
        return 0.0
    return min(max(float(statistics.median(residuals)), -MAX_OFFSET), MAX_OFFSET)


# The last wheel shows the digit that fills most of its window: past half-way to the next digit
# it shows that one. Exactly half-way it is read as the lower digit (people read either).
ROUND_UP_PAST = 0.5


def shown(positions: Sequence[float]) -> tuple[list[int], float]:
    """The digits a person reads off the wheels, and the count they stand at (continuous).

    The count is the odometer rule's (`resolve_digits`, the last wheel's roll as its fraction):
    `00399.6` for wheels at 0 0 3.6 9.6 9.6. The digits are that count rounded to a whole unit,
    half-way down: each wheel shows the digit that fills most of its window, so those wheels read
    `00400`, and a last wheel that sits a little low on its 8 (read 7.9) reads 8, not 7. So the
    text is never more than half a unit from the count. A count within half a unit of the
    counter's wrap (99999.8: every wheel just short of 0) reads all zeros, and its count is then
    0.0, not 99999.8: the counter is showing 00000.
    """
    if not positions:
        return [], 0.0
    floor_digits = resolve_digits(positions)
    fraction = positions[-1] % 10 - math.floor(positions[-1] % 10)
    whole = int("".join(map(str, floor_digits)))
    count = whole + round(fraction, 3)
    shown_whole = whole + 1 if fraction > ROUND_UP_PAST + 1e-9 else whole
    modulus = 10 ** len(positions)
    if shown_whole >= modulus:  # 9999.6 -> 0000: the counter has (all but) wrapped
        shown_whole -= modulus
        count = 0.0
    return [int(digit) for digit in f"{shown_whole:0{len(positions)}d}"], count


def reading_text(positions: Sequence[float]) -> str:
    """The digits as shown, leading zeros kept: "02572" (see `shown`)."""
    return "".join(str(digit) for digit in shown(positions)[0])


def reading_value(positions: Sequence[float]) -> float:
    """The count the wheels stand at, the last wheel's roll as its fraction: 2572.4."""
    return shown(positions)[1]


def acceptable_texts(positions: Sequence[float], margin: float = 0.2) -> set[str]:
    """The readings a person could give of these wheels: the one `shown` gives, and, when the
    last wheel stands within `margin` of half-way between two digits (both in view), the other."""
    texts = {reading_text(positions)}
    if positions:
        fraction = positions[-1] % 1
        if abs(fraction - ROUND_UP_PAST) <= margin:
            for nudge in (-margin, margin):
                texts.add(reading_text([*positions[:-1], positions[-1] - fraction + ROUND_UP_PAST + nudge]))
    return texts
