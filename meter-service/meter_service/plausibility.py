"""Is a reading believable next to the previous one? A stateless check the caller feeds.

The service keeps no history: a client that knows the last accepted reading of this meter sends
it as `previous_value` (optionally with `previous_time` and a `max_rate` in units per hour) and
gets back whether the new reading fits. A water meter only runs forwards, so a reading below the
previous one is either a misread or the counter wrapping past 10**wheels back to zero; a reading
far above it, faster than the meter can physically run, is a misread too. Nothing here can tell
which wheel is wrong: it flags the reading so the caller can ask for another photo or a person.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# A reading this much below the previous one (in units) counts as unchanged rather than backwards:
# the last wheel is read to about a tenth, so the same dial photographed twice may differ by that.
BACKWARD_TOLERANCE = 0.2


@dataclass(frozen=True)
class Plausibility:
    """The verdict: `plausible` is None when there is nothing to compare with."""

    plausible: bool | None
    reasons: list[str] = field(default_factory=list)
    delta: float | None = None  # units run since the previous reading (wrap taken into account)
    hours: float | None = None  # time since the previous reading
    rate_per_hour: float | None = None
    wrapped: bool = False  # the counter went past 10**wheels back to zero
    reading_time: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "plausible": self.plausible,
            "reasons": self.reasons,
            "delta": _round(self.delta),
            "hours": _round(self.hours, 4),
            "rate_per_hour": _round(self.rate_per_hour),
            "wrapped": self.wrapped,
            "time": self.reading_time.isoformat() if self.reading_time else None,
        }


def check(
    value: float,
    wheels: int,
    previous_value: float | None,
    previous_time: datetime | None = None,
    reading_time: datetime | None = None,
    max_rate: float | None = None,
) -> Plausibility:
    """Compare `value` (read off `wheels` wheels at `reading_time`) with the previous reading.

    Rules, each adding a reason:
    * no previous_value: nothing to compare (plausible None);
    * previous_time after the reading time: the times are wrong, no rate can be judged (False);
    * the reading is below the previous one by more than BACKWARD_TOLERANCE: backwards (False),
      unless going forwards round the wrap at 10**wheels explains it: within max_rate * hours
      when both are known, otherwise when that way round is the shorter one (99990 -> 00012);
    * it rose more than max_rate * hours: a jump (False);
    * max_rate without previous_time: the rate cannot be checked (noted, not held against it).
    """
    reading_time = reading_time or datetime.now(UTC)
    if previous_value is None:
        return Plausibility(None, ["no previous_value to compare with"], reading_time=reading_time)
    modulus = 10**wheels
    reasons: list[str] = []
    plausible = True
    hours: float | None = None
    if previous_time is not None:
        hours = (reading_time - previous_time).total_seconds() / 3600
        if hours < 0:
            reasons.append(
                f"previous_time {previous_time.isoformat()} is after the reading time "
                f"{reading_time.isoformat()}"
            )
            plausible, hours = False, None
    allowed = max_rate * hours if max_rate is not None and hours is not None else None
    if max_rate is not None and previous_time is None:
        reasons.append("max_rate needs previous_time to be checked")

    delta = value - previous_value
    wrapped = False
    if delta < -BACKWARD_TOLERANCE:
        forward = delta + modulus  # the way round through 10**wheels -> 0
        if (forward <= allowed) if allowed is not None else (forward < -delta):
            delta, wrapped = forward, True
            reasons.append(f"the counter wrapped past {modulus} to zero")
        else:
            plausible = False
            reasons.append(f"ran backwards by {_number(-delta)} (from {_number(previous_value)})")
    elif delta < 0:
        delta = 0.0  # the same reading within the reader's precision
    if allowed is not None and delta > allowed:
        plausible = False
        assert max_rate is not None and hours is not None
        reasons.append(
            f"rose {_number(delta)} in {hours:.3g} h, more than max_rate {_number(max_rate)}/h allows "
            f"({_number(allowed)})"
        )
    rate = delta / hours if hours else None
    return Plausibility(plausible, reasons, delta, hours, rate, wrapped, reading_time)


def parse_time(text: str, name: str) -> datetime:
    """ISO-8601 (a time without offset is UTC; `Z` allowed) or Unix epoch seconds -> aware datetime.

    Raises ValueError with a message naming `name`.
    """
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        if not math.isfinite(seconds):
            raise ValueError(f"{name} must be a finite number of epoch seconds")
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"{name} {text!r} is out of range") from exc
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(
            f"{name} must be ISO-8601 (2026-03-01T08:30:00Z) or epoch seconds, got {text!r}"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _round(number: float | None, digits: int = 3) -> float | None:
    return None if number is None else round(number, digits)


def _number(number: float) -> str:
    return f"{number:.3f}".rstrip("0").rstrip(".")
