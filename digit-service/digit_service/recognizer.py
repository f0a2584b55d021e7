"""The digit recognizer: MNIST-style pre-processing, a 10-class model, a per-digit decoder."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from PIL import Image

from digit_service.preprocess import PREPROCESS_VERSION, DigitSample, prepare_digits
from recognition_common.model_card import ModelCard
from recognition_common.recognizer import Prepared


class DigitRecognizer:
    task = "digit"

    def __init__(self, min_confidence: float) -> None:
        self.min_confidence = min_confidence
        # The rejection threshold changes answers, so it is part of the version the cache sees.
        self.preprocess_version = f"{PREPROCESS_VERSION}+reject{min_confidence:g}"

    def preprocess(self, image: Image.Image, card: ModelCard) -> Prepared:
        samples = prepare_digits(image)
        inputs = np.stack([sample.pixels for sample in samples])[..., np.newaxis]
        return Prepared(inputs=inputs.reshape((len(samples), *card.input_shape)), context=samples)

    def decode(self, outputs: np.ndarray, prepared: Prepared, card: ModelCard) -> dict[str, Any]:
        samples: list[DigitSample] = prepared.context
        digits = []
        for probabilities, sample in zip(outputs, samples, strict=True):
            best = int(np.argmax(probabilities))
            confidence = float(probabilities[best])
            digits.append(
                {
                    "digit": int(card.classes[best]),
                    "confidence": round(confidence, 4),
                    "probabilities": [round(float(p), 4) for p in probabilities],
                    "rejected": confidence < self.min_confidence,
                    "box": list(sample.box),
                    "image_png_base64": _png_base64(sample.pixels),
                }
            )
        # The number is right only if every digit is: the product is that probability.
        confidence = float(np.prod([digit["confidence"] for digit in digits]))
        unreadable = [i for i, digit in enumerate(digits) if digit["rejected"]]
        result: dict[str, Any] = {
            "text": "".join(str(digit["digit"]) for digit in digits),
            "confidence": round(confidence, 4),
            "rejected": bool(unreadable),
            "digits": digits,
        }
        if unreadable:
            positions = ", ".join(str(i + 1) for i in unreadable)
            result["reject_reason"] = (
                f"digit {positions} below the confidence threshold {self.min_confidence:g}"
            )
        return result


def _png_base64(pixels: np.ndarray) -> str:
    """The 28x28 input exactly as the model saw it, for the user to see why an answer came out."""
    buffer = io.BytesIO()
    Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8), mode="L").save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
