"""Label parsing, greedy CTC decoding on hand-built probabilities, and scoring."""

from __future__ import annotations

import numpy as np
import pytest

from captcha_service.ctc import encode_labels, greedy_decode
from captcha_service.labels import infer_charset, label_of, resolve_charset
from captcha_service.scoring import confusions, edit_distance, score


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("ab12_000001.png", "ab12"),
        ("ab12.png", "ab12"),
        ("ab12_x_y.png", "ab12"),
        ("AB12.3.png", "AB12"),
        ("/some/dir/x9z_1.jpg", "x9z"),
        ("_000001.png", ""),
    ],
)
def test_label_is_the_name_up_to_the_first_underscore_or_dot(name: str, label: str) -> None:
    assert label_of(name) == label


def test_charsets_by_name_or_literal() -> None:
    assert resolve_charset("digits") == "0123456789"
    assert resolve_charset("digits+upper").endswith("XYZ") and len(resolve_charset("digits+upper")) == 36
    assert resolve_charset("cab") == "cab"  # order kept
    with pytest.raises(ValueError, match="each given once"):
        resolve_charset("abca")  # a repeat: a mistyped name like "klingon", not a charset
    assert infer_charset(["ba1", "c1"]) == "1abc"


CHARSET = "abc"


def probabilities(path: list[tuple[int, float]]) -> np.ndarray:
    """One timestep per (class, probability of that class); the rest spread over the others."""
    rows = []
    for best, p in path:
        row = np.full(len(CHARSET) + 1, (1 - p) / len(CHARSET))
        row[best] = p
        rows.append(row)
    return np.array(rows, dtype=np.float32)


def test_greedy_decode_merges_repeats_and_drops_blanks() -> None:
    # - a a - b - - b c c : "abbc" (the blank between the b's keeps them apart)
    path = [
        (0, 0.9),
        (1, 0.6),
        (1, 0.8),
        (0, 0.9),
        (2, 0.7),
        (0, 0.9),
        (0, 0.9),
        (2, 0.95),
        (3, 0.5),
        (3, 0.55),
    ]
    decoded = greedy_decode(probabilities(path), CHARSET)
    assert decoded.text == "abbc"
    # Each character's confidence is the highest probability among the timesteps that emitted it.
    assert decoded.confidences == pytest.approx([0.8, 0.7, 0.95, 0.55])


def test_greedy_decode_of_only_blanks_is_empty() -> None:
    decoded = greedy_decode(probabilities([(0, 0.99)] * 5), CHARSET)
    assert decoded.text == "" and decoded.confidences == []


def test_greedy_decode_rejects_a_wrong_class_count() -> None:
    with pytest.raises(ValueError):
        greedy_decode(np.zeros((5, 3), dtype=np.float32), CHARSET)


def test_encode_labels_pads_with_blank() -> None:
    encoded = encode_labels(["ab", "cab"], CHARSET, 4)
    assert encoded.tolist() == [[1, 2, 0, 0], [3, 1, 2, 0]]


def test_scores_count_edit_distance_per_character() -> None:
    assert edit_distance("abcd", "abd") == 1
    result = score(["abcd", "abcd"], ["abcd", "abd"])
    assert result.whole_accuracy == 0.5
    assert result.char_accuracy == pytest.approx(1 - 1 / 8)
    assert confusions(["ab", "ab"], ["ac", "a"]) == {("b", "c"): 1}
