"""The stateless plausibility check against a previous reading: backwards, jumps, wrap, times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from meter_service.options import MeterOptions
from meter_service.plausibility import check, parse_time
from recognition_common.edge.errors import ApiError
from recognition_common.serving.options import parse_options as parse

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_nothing_to_compare_with() -> None:
    verdict = check(2572.4, 5, None, reading_time=NOW)
    assert verdict.plausible is None and verdict.delta is None
    assert verdict.to_json()["time"] == "2026-03-01T12:00:00+00:00"


def test_forward_within_the_rate() -> None:
    verdict = check(2572.4, 5, 2560.4, NOW - timedelta(hours=4), NOW, max_rate=5)
    assert verdict.plausible is True and verdict.reasons == []
    assert verdict.delta == pytest.approx(12) and verdict.hours == pytest.approx(4)
    assert verdict.rate_per_hour == pytest.approx(3)


def test_backwards_is_implausible_but_a_tenth_of_wobble_is_not() -> None:
    verdict = check(2560.0, 5, 2572.4, reading_time=NOW)
    assert verdict.plausible is False and "ran backwards by 12.4" in verdict.reasons[0]
    same = check(2572.3, 5, 2572.4, reading_time=NOW)
    assert same.plausible is True and same.delta == 0


def test_jump_above_max_rate() -> None:
    verdict = check(2700.0, 5, 2572.0, NOW - timedelta(hours=2), NOW, max_rate=10)
    assert verdict.plausible is False
    assert "rose 128 in 2 h, more than max_rate 10/h allows (20)" in verdict.reasons[0]
    assert verdict.rate_per_hour == pytest.approx(64)


def test_wrap_past_the_counters_range() -> None:
    # 99990 -> 00012 on five wheels: 22 units forward through zero.
    shorter = check(12.0, 5, 99990.0, reading_time=NOW)
    assert shorter.plausible is True and shorter.wrapped and shorter.delta == pytest.approx(22)
    assert "wrapped past 100000" in shorter.reasons[0]
    within = check(12.0, 5, 99990.0, NOW - timedelta(hours=1), NOW, max_rate=30)
    assert within.plausible is True and within.wrapped
    beyond = check(12.0, 5, 99990.0, NOW - timedelta(hours=1), NOW, max_rate=10)
    assert beyond.plausible is False and not beyond.wrapped and "backwards" in beyond.reasons[0]
    # Half-way round is not a wrap: 60000 -> 10000 ran backwards.
    assert check(10000.0, 5, 60000.0, reading_time=NOW).plausible is False


def test_previous_time_in_the_future() -> None:
    verdict = check(2572.4, 5, 2570.0, NOW + timedelta(minutes=5), NOW, max_rate=10)
    assert verdict.plausible is False and "after the reading time" in verdict.reasons[0]
    assert verdict.hours is None and verdict.rate_per_hour is None


def test_max_rate_without_previous_time_is_noted() -> None:
    verdict = check(2572.4, 5, 2570.0, reading_time=NOW, max_rate=10)
    assert verdict.plausible is True and verdict.reasons == ["max_rate needs previous_time to be checked"]


@pytest.mark.parametrize(
    "text",
    ["2026-03-01T12:00:00Z", "2026-03-01T12:00:00+00:00", "2026-03-01T13:00:00+01:00", "2026-03-01T12:00:00",
     "1772366400", "1772366400.0"],
)  # fmt: skip
def test_times_iso_or_epoch(text: str) -> None:
    assert parse_time(text, "time") == NOW


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "nan", "inf", "1e30"])
def test_bad_times(text: str) -> None:
    with pytest.raises(ValueError, match="time"):
        parse_time(text, "time")


def test_options_are_parsed_and_checked() -> None:
    options = parse(
        MeterOptions,
        {"previous_value": "2570.5", "previous_time": "1772366400", "max_rate": "3", "wheels": "6"},
    )
    assert options.wheels == 6 and options.previous_value == 2570.5 and options.max_rate == 3
    assert options.previous_time == NOW and options.mode == "auto" and options.wants_plausibility
    assert not parse(MeterOptions, {}).wants_plausibility
    assert (
        parse(MeterOptions, {}).wheels is None and parse(MeterOptions, {"wheels": "auto"}).wheels is None
    )  # counted


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "zoom"}, "mode must be one of auto, photo, window"),
        ({"wheels": "3"}, "wheels must be auto or a whole number from 4 to 8"),
        ({"wheels": "9"}, "wheels must be auto or a whole number from 4 to 8"),
        ({"wheels": "five"}, "wheels must be auto or a whole number from 4 to 8"),
        ({"previous_value": "abc"}, "previous_value must be a number"),
        ({"previous_value": "nan"}, "previous_value must be a number"),
        ({"previous_value": "-1"}, "previous_value must be from 0 to below 10^8"),
        ({"previous_value": "100000000"}, "previous_value must be from 0 to below 10^8"),
        ({"previous_value": "100000", "wheels": "5"}, "previous_value must be from 0 to below 10^5"),
        ({"max_rate": "0"}, "max_rate must be a positive number"),
        ({"previous_time": "soon"}, "previous_time must be ISO-8601"),
        ({"time": "12:00 yesterday"}, "time must be ISO-8601"),
    ],
)
def test_bad_options_are_400(options: dict[str, str], message: str) -> None:
    with pytest.raises(ApiError) as raised:
        parse(MeterOptions, options)
    assert raised.value.status == 400 and message in raised.value.message
