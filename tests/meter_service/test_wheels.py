"""One wheel cell: digits scroll up as the drum advances, styles are plausible, fonts are local."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from meter_service.wheels import (
    SEVEN_SEGMENT,
    WheelStyle,
    font_paths,
    random_style,
    red_variant,
    render_wheel,
    shown_position,
    wobbled,
)


def _flat(font: str) -> WheelStyle:
    return WheelStyle(font=font, ink=(0, 0, 0), paper=(255, 255, 255), pitch=1.0, curvature=0.0, shading=0.0)


def test_digits_scroll_up_as_the_wheel_advances() -> None:
    style = _flat(font_paths()[0])
    still = np.asarray(render_wheel(3.0, style, 40, 64), dtype=float)
    rolled = np.asarray(render_wheel(3.25, style, 40, 64), dtype=float)  # a quarter pitch = 16 rows
    assert np.abs(rolled[:32] - still[16:48]).mean() < 4  # the 3 moved up by 16 rows
    assert np.abs(rolled[:32] - still[:32]).mean() > 10
    # Half-way, the lower half shows the top of the next digit: the 4, not the 2.
    half = np.asarray(render_wheel(3.5, style, 40, 64), dtype=float)
    four = np.asarray(render_wheel(4.0, style, 40, 64), dtype=float)
    two = np.asarray(render_wheel(2.0, style, 40, 64), dtype=float)
    assert np.abs(half[32:] - four[:32]).mean() < np.abs(half[32:] - two[:32]).mean()


def test_a_drum_drawn_off_centre_shows_its_shown_position() -> None:
    # Mounted 0.06 of the cell low, a wheel at 3.0 looks like a centred wheel a little short of
    # 3 (2.94 at this pitch): the label a reader of one cell can be taught is the shown one.
    centred = _flat(font_paths()[0])  # pitch 1: a digit per cell height
    low = replace(centred, offset_y=0.06)
    shown = shown_position(3.0, low)
    assert shown == pytest.approx(2.94)
    drawn = np.asarray(render_wheel(3.0, low, 40, 64), dtype=float)
    assert np.abs(drawn - np.asarray(render_wheel(shown, centred, 40, 64), dtype=float)).mean() < 2
    assert np.abs(drawn - np.asarray(render_wheel(3.0, centred, 40, 64), dtype=float)).mean() > 4
    assert shown_position(0.02, low) == pytest.approx(9.96)  # round the circle


def test_wobble_moves_the_digits_a_little_and_is_what_render_adds() -> None:
    style = random_style(np.random.default_rng(3))
    moved = wobbled(style, np.random.default_rng(4))
    assert 0 < abs(moved.offset_y - style.offset_y) < 0.1 and moved.pitch == style.pitch
    np.testing.assert_array_equal(
        np.asarray(render_wheel(4.3, style, 20, 32, np.random.default_rng(4))),
        np.asarray(render_wheel(4.3, moved, 20, 32)),
    )


def test_position_wraps_and_size_is_exact() -> None:
    style = random_style(np.random.default_rng(1))
    image = render_wheel(9.99, style, 20, 32)
    assert image.size == (20, 32) and image.mode == "RGB"
    np.testing.assert_array_equal(
        np.asarray(render_wheel(12.0, style, 20, 32)), render_wheel(2.0, style, 20, 32)
    )


@pytest.mark.parametrize("scheme", ["dark", "light", "red"])
def test_styles_have_contrast(scheme: str) -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        style = random_style(rng, scheme)
        assert np.abs(np.subtract(style.ink, style.paper, dtype=int)).sum() > 150
        assert style.font in font_paths()
    red = red_variant(random_style(rng, "dark"), rng)
    assert max(red.ink[0], red.paper[0]) > 140


def test_fonts_come_from_inside_the_environment() -> None:
    assert len(font_paths()) >= 4
    assert all(".venv" in path or "site-packages" in path for path in font_paths())


def test_seven_segment_digits_are_lit_segments_of_an_eight() -> None:
    # Each segment digit lights a subset of the 8's segments, all ten differ, and a 1 lights
    # the fewest; the drum scrolls them like any font's.
    style = _flat(SEVEN_SEGMENT)
    ink = {d: np.asarray(render_wheel(d, style, 40, 64).convert("L")) < 128 for d in range(10)}
    for digit in range(10):
        assert (ink[digit] & ~ink[8]).sum() <= 0.02 * ink[digit].sum()  # within the 8
    assert len({mask.tobytes() for mask in ink.values()}) == 10
    assert min(ink, key=lambda d: ink[d].sum()) == 1
    rolled = np.asarray(render_wheel(3.25, style, 40, 64), dtype=float)
    still = np.asarray(render_wheel(3.0, style, 40, 64), dtype=float)
    assert np.abs(rolled[:32] - still[16:48]).mean() < 4
    tails = np.asarray(render_wheel(6.0, replace(style, short_tails=True), 40, 64).convert("L")) < 128
    assert tails.sum() < ink[6].sum()  # a 6 without its top bar


def test_segment_digits_only_when_asked_and_other_streams_stay_put() -> None:
    plain, asked_none = np.random.default_rng(11), np.random.default_rng(11)
    for _ in range(50):
        assert random_style(plain) == random_style(asked_none, segments=0.0)
    assert plain.random() == asked_none.random()  # nothing extra drawn
    rng = np.random.default_rng(12)
    drawn = [random_style(rng, segments=0.5) for _ in range(200)]
    segment = [style for style in drawn if style.font == SEVEN_SEGMENT]
    assert 60 < len(segment) < 140
    assert {style.short_tails for style in segment} == {True, False}
    assert all(0.08 <= style.segment_weight <= 0.16 for style in segment)
