"""The READMEs' headline figures are the ones the evaluate commands recorded in the model cards.

Each claim is a phrase of a README with `{}` where a figure stands and where in which card the
figure comes from; the card's figure, formatted as the README writes it, must make the phrase
appear. A model retrained or re-evaluated without its README updated fails here, and so does a
README edited by hand.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Any

import pytest

from tests.deploy.helpers import REPO_ROOT

METER = "meter-service/models/default"
CNN, LENET5 = "digit-service/models/cnn", "digit-service/models/lenet5"
CAPTCHA, ALNUM = "captcha-service/models/default", "captcha-service/models/alnum-4to6"


@cache
def card(path: str) -> dict[str, Any]:
    return json.loads((REPO_ROOT / path / "card.json").read_text())


def metric(path: str, *keys: str | int) -> Any:
    value: Any = card(path)["metrics"]
    for key in keys:
        value = value[key]
    return value


def rounded(value: float, decimals: int) -> str:
    """`value` as the card writes it, rounded half up as a person does (0.9165 -> 0.917)."""
    step = Decimal(1).scaleb(-decimals)
    return str(Decimal(str(value)).quantize(step, rounding=ROUND_HALF_UP))


def percent(decimals: int) -> Callable[[float], str]:
    return lambda fraction: rounded(float(Decimal(str(fraction)) * 100), decimals) + "%"


def refused_at_default(*keys: str) -> float:
    """The refused share at the default METER_MIN_READING_CONFIDENCE, from a rejection curve."""
    from meter_service.config import MeterSettings

    threshold = MeterSettings().min_reading_confidence
    (point,) = [
        p for p in metric(METER, "meter_evaluate", *keys, "rejection_curve") if p["threshold"] == threshold
    ]
    return point["refused"]


# (README, phrase with {} for each figure, the figures as the README writes them)
CLAIMS: list[tuple[str, str, Callable[[], tuple[str, ...]]]] = [
    (
        "README.md",
        "MNIST test through the whole pipeline {} (`cnn`; the model alone {}), {} (`lenet5`; alone {})",
        lambda: (
            percent(2)(metric(CNN, "pipeline", "mnist", "read_right")),
            percent(2)(metric(CNN, "mnist_test_accuracy")),
            percent(2)(metric(LENET5, "pipeline", "mnist", "read_right")),
            percent(2)(metric(LENET5, "mnist_test_accuracy")),
        ),
    ),
    (
        "README.md",
        "whole-captcha {} / {}, character {} / {} on 2,000 fresh captchas",
        lambda: (
            percent(2)(metric(CAPTCHA, "test_whole_accuracy")),
            percent(2)(metric(ALNUM, "test_whole_accuracy")),
            percent(2)(metric(CAPTCHA, "test_char_accuracy")),
            percent(2)(metric(ALNUM, "test_char_accuracy")),
        ),
    ),
    ("README.md", "| `cnn` | **{}** |", lambda: (percent(2)(metric(CNN, "mnist_test_accuracy")),)),
    ("README.md", "| `lenet5` | **{}** |", lambda: (percent(2)(metric(LENET5, "mnist_test_accuracy")),)),
    (
        "README.md",
        "| 12 clean real 8-wheel counter strips (5 black + 3 red wheels), `mode=window`, wheels counted "
        "| **{} of {}**",
        lambda: tuple(
            str(metric(METER, "meter_evaluate", "real_strips", "counted", key))
            for key in ("clean_right", "clean_strips")
        ),
    ),
    (
        "README.md",
        "| whole reading on 500 held-out generated photos, wheels counted "
        "| **{}** exact; **{}** right among the accepted, {} refused |",
        lambda: (
            percent(1)(metric(METER, "meter_evaluate", "synthetic_photos", "exact_reading")),
            percent(1)(metric(METER, "meter_evaluate", "synthetic_photos", "right_among_accepted")),
            percent(1)(refused_at_default("synthetic_photos")),
        ),
    ),
    (
        "README.md",
        "| window corners on the same photos: IoU >= 0.8 | **{}** (mean IoU {}) |",
        lambda: (
            percent(1)(metric(METER, "meter_evaluate", "synthetic_photos", "window_iou_at_0.8")),
            rounded(metric(METER, "meter_evaluate", "synthetic_photos", "window_iou_mean"), 3),
        ),
    ),
    (
        "README.md",
        "| whole digits on held-out real wheel crops (meters never trained on) | **{}** ({} wrong of {})",
        lambda: (
            percent(2)(metric(METER, "test_whole_digit_accuracy")),
            str(metric(METER, "test_whole_digit_errors")),
            str(metric(METER, "test_whole_digit_crops")),
        ),
    ),
    (
        "README.md",
        "wheels counted | **{}** exact; {} right among the accepted, {} refused |",
        lambda: (
            percent(1)(metric(METER, "meter_evaluate", "composed_real_strips", "test", "exact_reading")),
            percent(1)(
                metric(METER, "meter_evaluate", "composed_real_strips", "test", "right_among_accepted")
            ),
            percent(1)(refused_at_default("composed_real_strips", "test")),
        ),
    ),
    (
        "README.md",
        "in generated meter faces (`composed_photos`), wheels counted | window found (IoU >= 0.8) "
        "**{}**; {} exact; {} right among the accepted, {} refused |",
        lambda: (
            percent(1)(
                metric(METER, "meter_evaluate", "composed_real_strips", "test_photos", "window_iou_at_0.8")
            ),
            percent(1)(
                metric(METER, "meter_evaluate", "composed_real_strips", "test_photos", "exact_reading")
            ),
            percent(1)(
                metric(METER, "meter_evaluate", "composed_real_strips", "test_photos", "right_among_accepted")
            ),
            percent(1)(refused_at_default("composed_real_strips", "test_photos")),
        ),
    ),
]


def _small_thick_pen() -> tuple[str, ...]:
    def figure(path: str, key: str) -> float:
        return float(metric(path, "pipeline", "small-thick-pen", key))

    return (
        percent(2)(figure(CNN, "read_right")),
        percent(2)(figure(CNN, "refused")),
        rounded(figure(CNN, "ece"), 4),
        percent(2)(figure(LENET5, "read_right")),
        percent(2)(figure(LENET5, "refused")),
    )


CLAIMS += [
    (
        readme,
        "| small, drawn with a thick pen (35-55 px tall, 11-17 px pen; a known limit) "
        "| {} | {} | {} | {} | {} |",
        _small_thick_pen,
    )
    for readme in ("README.md", "digit-service/README.md")
]


@pytest.mark.parametrize(("readme", "phrase", "figures"), CLAIMS, ids=[c[1][:40] for c in CLAIMS])
def test_readme_figures_are_the_cards(
    readme: str, phrase: str, figures: Callable[[], tuple[str, ...]]
) -> None:
    text = " ".join((REPO_ROOT / readme).read_text().split())
    expected = phrase.format(*figures())
    assert expected in text, f"{readme} should say: {expected}"
