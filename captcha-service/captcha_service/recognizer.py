"""The captcha recognizer: grey + resize pre-processing, greedy CTC decoding with confidences.

An answer is `rejected` when a character is unsure (below `min_confidence`), when the answer as a
whole is unsure (the product of its characters' confidences below `min_answer_confidence`: six
characters at 0.75 each read right together only about 18% of the time), or when its length is
outside the model's range.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from captcha_service.card import CaptchaCard
from captcha_service.ctc import greedy_decode
from captcha_service.preprocess import to_model_input, to_pixels
from recognition_common.serving.model_card import ModelCard
from recognition_common.serving.recognizer import Prepared

# Bumped whenever the pixels handed to the model change for the same upload. Each service keeps
# this in its recognizer.py, where it becomes the cache's `preprocess_version`.
PREPROCESS_VERSION = "captcha-2"


def card_charset(card: ModelCard) -> str:
    """The characters of a card's output classes 1..n (class 0 is the CTC blank)."""
    return "".join(card.classes[1:])


class CaptchaRecognizer:
    task = "captcha"

    def __init__(self, min_confidence: float, min_answer_confidence: float = 0.0) -> None:
        self.min_confidence = min_confidence
        self.min_answer_confidence = min_answer_confidence
        # The rejection thresholds change answers, so they are part of the version the cache sees.
        self.preprocess_version = (
            f"{PREPROCESS_VERSION}+reject{min_confidence:g}+answer{min_answer_confidence:g}"
        )

    def preprocess(self, image: Image.Image, card: CaptchaCard) -> Prepared:
        height, width = card.input_shape[0], card.input_shape[1]
        return Prepared(inputs=to_model_input(to_pixels(image, width, height, card.resize))[np.newaxis])

    def decode(self, outputs: np.ndarray, prepared: Prepared, card: CaptchaCard) -> dict[str, Any]:
        decoded = greedy_decode(outputs[0], card_charset(card))
        characters = [
            {"char": char, "confidence": round(confidence, 4)}
            for char, confidence in zip(decoded.text, decoded.confidences, strict=True)
        ]
        # The text is right only if every character is: the product estimates that chance.
        confidence = float(np.prod(decoded.confidences)) if decoded.text else 0.0
        reasons = []
        low = [i + 1 for i, c in enumerate(decoded.confidences) if c < self.min_confidence]
        if low:
            reasons.append(
                f"character {', '.join(map(str, low))} below the confidence threshold {self.min_confidence:g}"
            )
        if decoded.text and confidence < self.min_answer_confidence:
            reasons.append(
                f"answer confidence {confidence:.2f} below the threshold {self.min_answer_confidence:g}"
            )
        min_length = card.min_length
        max_length = card.max_length if card.max_length is not None else (len(decoded.text) or 1)
        if not min_length <= len(decoded.text) <= max_length:
            reasons.append(f"read {len(decoded.text)} characters; model reads {min_length}-{max_length}")
        result: dict[str, Any] = {
            "text": decoded.text,
            "confidence": round(confidence, 4),
            "rejected": bool(reasons),
            "characters": characters,
        }
        if reasons:
            result["reject_reason"] = "; ".join(reasons)
        return result
