"""Composing a reading from the reader's per-wheel probabilities: digits, value, states, rejection."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from meter_service import odometer
from meter_service.pipeline import Cut, Job, MeterOptions, Thresholds, finish
from meter_service.reader import NUM_CLASSES, class_of, decode_wheel
from meter_service.reading import ROLLING_MARGIN, compose, snap


def probabilities(position: float, confidence: float = 0.96) -> np.ndarray:
    """Reader output for a wheel at `position`: `confidence` on its class, the rest spread evenly."""
    p = np.full(NUM_CLASSES, (1 - confidence) / (NUM_CLASSES - 1))
    p[class_of(position)] = confidence
    return p


def read(positions: list[float], confidences: list[float] | None = None, threshold: float = 0.5):
    confidences = confidences or [0.96] * len(positions)
    readings = [decode_wheel(probabilities(p, c)) for p, c in zip(positions, confidences, strict=True)]
    return compose(readings, threshold)


def read_exact(positions: list[float]):
    """The reading of wheels the reader places exactly (between classes, as its mean does)."""
    readings = []
    for position in positions:
        p = np.zeros(NUM_CLASSES)
        low = int(position * 10) % NUM_CLASSES
        share = position * 10 - int(position * 10)
        p[low], p[(low + 1) % NUM_CLASSES] = 1 - share, share
        readings.append(decode_wheel(p))
    return compose(readings, 0.5)


def test_leading_zeros_kept_and_last_wheel_roll_is_the_fraction() -> None:
    reading = read([0, 2, 5, 7, 2.4])
    assert reading.text == "02572"
    assert reading.value == pytest.approx(2572.4)
    last = reading.wheels[-1]
    assert (last.digit, last.rolling, last.next_digit) == (2, True, 3)
    assert last.fraction == pytest.approx(0.4)
    assert [wheel.rolling for wheel in reading.wheels[:-1]] == [False] * 4


def test_all_zeros_reads_as_text_and_zero() -> None:
    reading = read([0, 0, 0, 0, 0])
    assert reading.text == "00000" and reading.value == 0


def test_mid_roll_wheel_is_resolved_by_its_right_neighbour() -> None:
    # 0 2 5 7.5 9.5: the fourth wheel is half-way from 7 to 8 because the last is half-way 9 -> 0.
    before = read([0, 2, 5, 7.5, 9.5])
    assert before.text == "02579" and before.value == pytest.approx(2579.5)
    fourth = before.wheels[3]
    assert (fourth.digit, fourth.rolling, fourth.next_digit) == (7, True, 8)
    assert fourth.fraction == pytest.approx(0.5)
    # Once the last wheel has gone round, a fourth wheel still a little short of 8 reads 8.
    after = read([0, 2, 5, 7.9, 0.1])
    assert after.text == "02580" and after.value == pytest.approx(2580.1)
    assert after.wheels[3].digit == 8 and not after.wheels[3].rolling


def test_a_carry_runs_through_a_row_of_nines() -> None:
    # Every wheel of the run is 60% of the way to its next digit: the next digits fill most of
    # the windows, so the text is the next round number; the value keeps the roll.
    reading = read([0, 1.6, 9.6, 9.6, 9.6])
    assert reading.text == "02000" and reading.value == pytest.approx(1999.6)
    assert [wheel.rolling for wheel in reading.wheels] == [False, True, True, True, True]
    assert [wheel.digit for wheel in reading.wheels] == [0, 1, 9, 9, 9]
    assert [wheel.next_digit for wheel in reading.wheels] == [None, 2, 0, 0, 0]
    assert reading.wheels[1].fraction == pytest.approx(0.6)


def test_a_wheel_just_short_of_a_digit_reads_as_that_digit() -> None:
    # The last wheel's 8 fills its window but sits a little low: read 7.9, it shows 8.
    reading = read([0, 1, 3, 4, 7.9])
    assert reading.text == "01348" and reading.value == pytest.approx(1347.9)
    assert not reading.wheels[-1].rolling and reading.wheels[-1].digit == 8
    assert read([0, 0, 3.9, 9.9, 9.9]).text == "00400"  # a row of 9.9s: the next round number
    assert read([0, 2, 5, 7, 2.7]).text == "02573"


def test_a_half_rolled_last_wheel_reads_the_lower_digit() -> None:
    reading = read([0, 2, 5, 7, 2.5])
    assert reading.text == "02572" and reading.value == pytest.approx(2572.5)
    last = reading.wheels[-1]
    assert (last.digit, last.next_digit, last.rolling) == (2, 3, True)
    assert read([0, 2, 5, 7.5, 9.5]).text == "02579"


def test_all_zeros_read_a_little_low_never_wrap_to_nines() -> None:
    for last in (9.7, 9.8, 9.9):
        reading = read([0, 0, 0, 0, last])
        assert reading.text == "00000"
        assert reading.value == 0.0
    assert read([9.8, 9.8, 9.8, 9.8, 9.8]).text == "00000"


def test_text_is_never_more_than_half_a_unit_from_the_value() -> None:
    rng = np.random.default_rng(5)
    for _ in range(300):
        value = float(rng.uniform(0, 99_999))
        positions = odometer.wheel_positions(value, 5)
        reading = read(positions)
        shown = int(reading.text)
        assert abs(shown - reading.value) <= 0.5 + 1e-9 or (shown == 0 and reading.value == 0.0)


def test_red_decimal_wheels_are_the_fraction_of_the_value() -> None:
    reading = compose([decode_wheel(probabilities(p)) for p in [0, 0, 4, 0, 9, 5, 5, 0]], 0.5, decimals=3)
    assert reading.text == "00409550" and reading.decimals == 3
    assert reading.value == pytest.approx(409.55)
    assert [wheel.red for wheel in reading.wheels] == [False] * 5 + [True] * 3


def test_acceptable_texts_take_both_digits_of_a_half_rolled_last_wheel() -> None:
    assert odometer.acceptable_texts([0, 2, 5, 7, 2.5]) == {"02572", "02573"}
    assert odometer.acceptable_texts([0, 2, 5, 7, 2.0]) == {"02572"}
    assert odometer.acceptable_texts([0, 2, 5, 7, 2.9]) == {"02573"}


def test_a_clean_digit_read_just_below_it_is_not_the_digit_before() -> None:
    # Decoding lands between classes; the reader resolves tenths, so 2.97 is the 3 it shows.
    assert snap(2.97) == 3.0 and snap(9.96) == 0.0 and snap(4.04) == 4.0
    p = np.zeros(NUM_CLASSES)
    p[[29, 30]] = [0.3, 0.7]  # mostly 3.0: decodes to 2.97
    assert decode_wheel(p).position < 3.0
    reading = compose([decode_wheel(probabilities(1)), decode_wheel(p)], 0.5)
    assert reading.text == "13"
    assert not reading.wheels[-1].rolling


def test_rolling_margin() -> None:
    assert not read([0, 0, 0, 0, ROLLING_MARGIN - 0.05]).wheels[-1].rolling
    assert read([0, 0, 0, 0, ROLLING_MARGIN + 0.05]).wheels[-1].rolling


def test_confidence_is_the_product_and_unsure_wheels_are_named() -> None:
    reading = read([1, 2, 3, 4, 5], confidences=[0.99, 0.3, 0.99, 0.4, 0.99])
    expected = np.prod(
        [
            decode_wheel(probabilities(p, c)).confidence
            for p, c in zip([1, 2, 3, 4, 5], [0.99, 0.3, 0.99, 0.4, 0.99], strict=True)
        ]
    )
    assert reading.confidence == pytest.approx(expected)
    assert reading.low_confidence == [2, 4]


def result_of(positions: list[float], confidences: list[float], score: float | None) -> dict:
    job = Job(Image.new("RGB", (100, 32)), MeterOptions(wheels=len(positions)), "photo")
    corners = None if score is None else np.array([[1, 2], [101, 2], [101, 34], [1, 34]], np.float32)
    cut = Cut(
        corners, score, Image.new("RGB", (20 * len(positions), 32)), np.zeros((len(positions), 32, 20, 3))
    )
    rows = np.stack([probabilities(p, c) for p, c in zip(positions, confidences, strict=True)])
    return finish(job, cut, rows, Thresholds(min_confidence=0.5, min_window_score=0.5))


def test_result_accepts_a_confident_reading() -> None:
    result = result_of([0, 2, 5, 7, 2.4], [0.97] * 5, score=0.9)
    assert result["text"] == "02572" and result["value"] == pytest.approx(2572.4)
    assert result["rejected"] is False and "reject_reason" not in result
    assert result["corners"] == [[1, 2], [101, 2], [101, 34], [1, 34]]
    assert result["window_score"] == 0.9 and result["mode"] == "photo"
    assert set(result["digits"][0]) == {
        "digit",
        "confidence",
        "rolling",
        "fraction",
        "next_digit",
        "position",
        "red",
    }
    assert result["decimals"] == 0
    assert result["crop_png_base64"] and "plausibility" not in result


def test_result_rejects_unsure_wheels_and_a_weak_window() -> None:
    result = result_of([0, 2, 5, 7, 2], [0.97, 0.2, 0.97, 0.97, 0.3], score=0.3)
    assert result["rejected"] is True
    assert "wheels 2, 5 below the confidence threshold 0.5" in result["reject_reason"]
    assert "score 0.30, below 0.5" in result["reject_reason"]
    single = result_of([0, 2, 5, 7, 2], [0.97, 0.97, 0.97, 0.2, 0.97], score=None)
    assert single["reject_reason"] == "wheel 4 below the confidence threshold 0.5"
    assert single["corners"] is None and single["window_score"] is None


def test_the_offset_the_wheels_at_rest_share_is_taken_off_every_wheel() -> None:
    # A row cut a little high: every wheel reads 0.04 further round than it stands. The last
    # wheel at 2.92 then reads 2.96, which alone would be a 3; the resting wheels say otherwise.
    shifted = [p + 0.04 for p in (0, 2, 5, 7, 2.92)]
    assert odometer.resting_offset(shifted) == pytest.approx(0.04)
    reading = read_exact(shifted)
    assert reading.value == pytest.approx(2572.9)
    assert reading.wheels[-1].position == pytest.approx(2.9)
    assert read_exact([0, 2, 5, 7, 2.96]).value == pytest.approx(2573.0)  # without that shift, a 3


def test_wheels_being_carried_or_misread_say_nothing_of_the_offset() -> None:
    # 0 1.6 9.6 9.6 9.6: only the first wheel (its neighbour at 1.6 carries nothing) is at rest.
    assert odometer.resting_offset([0.03, 1.6, 9.6, 9.6, 9.6]) == pytest.approx(0.03)
    # A wheel whose right neighbour stands past 8.9 may be carried: no reference, no offset.
    assert odometer.resting_offset([3.06, 9.06]) == 0.0
    # A wheel far from any whole digit is misread, not offset; the median outvotes one outlier.
    assert odometer.resting_offset([4.35, 2.0, 6.0, 1.0]) == 0.0
    assert odometer.resting_offset([1.02, 2.03, 6.12, 1.04, 3.0]) == pytest.approx(0.035)
    # Never more than the most a row can be shifted.
    assert odometer.resting_offset([1.19, 2.18, 6.19, 1.0]) == odometer.MAX_OFFSET
    assert odometer.resting_offset([]) == 0.0 and odometer.resting_offset([4.1]) == 0.0
