"""The digit recognizer: MNIST-style pre-processing, a 10-class model, a per-digit decoder.

A model directory may hold a pair detector (`pairs/`, listed in the card's `components`): a
small model that says whether a stroke group wider than most digits is two touching digits. Its
pass runs beside the digit model's (`Prepared.component_inputs`), and its verdict weighs in when
the group's whole and split readings are compared (`preprocess.choose_readings`).

A digit drawn with a stroke thick for its size is read twice in the same pass, as drawn and
thinned (`DigitSample.thinned`, after the samples' own inputs), and the thinned reading is kept
only when it is clearly surer (`digit_outputs`).
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from PIL import Image

from digit_service.preprocess import (
    DigitSample,
    choose_readings,
    pair_evidence,
    prepare_readings,
    splittable_groups,
)
from recognition_common.serving.model_card import ModelCard
from recognition_common.serving.recognizer import Prepared

# Bump when pre-processing or decoding changes an answer for the same image and model. Each
# service keeps this in its recognizer.py, where it becomes the cache's `preprocess_version`.
PREPROCESS_VERSION = "digit-mnist-6"
PAIRS = "pairs"  # the component that tells touching digits from one wide digit
# A thick digit's thinned reading replaces its reading as drawn when it is at least THINNED_SURE
# sure (calibrated) and surer by THINNED_MARGIN. Chosen on the validation draw (`evaluate
# --calibrate`'s, seed 7): small thick-pen digits read right and accepted, cnn 68.6% -> 75.4%
# (refused 14.4% -> 9.2%), lenet5 68.8% -> 74.6% (18.8% -> 15.4%); every other set within one
# image; junk refused as before with cnn (98.2%), lenet5 93.5% -> 93.3% (two elongated blobs
# thinned into a "1"). At 0.9 the thick-pen digits gain a point more, but lenet5 accepts five
# such blobs; keeping whichever reading is surer accepts them with cnn too (junk 97.6%).
THINNED_SURE = 0.95
THINNED_MARGIN = 0.1


class DigitRecognizer:
    task = "digit"

    def __init__(self, min_confidence: float) -> None:
        self.min_confidence = min_confidence
        # The rejection threshold changes answers, so it is part of the version the cache sees.
        self.preprocess_version = f"{PREPROCESS_VERSION}+reject{min_confidence:g}"

    def preprocess(self, image: Image.Image, card: ModelCard) -> Prepared:
        samples = prepare_readings(image)
        thinned = [sample.thinned for sample in samples if sample.thinned is not None]
        inputs = np.stack([sample.pixels for sample in samples] + thinned)[..., np.newaxis]
        prepared = Prepared(inputs=inputs.reshape((len(inputs), *card.input_shape)), context=samples)
        wide = splittable_groups(samples)
        if wide and PAIRS in card.components:
            prepared.component_inputs[PAIRS] = inputs[list(wide.values())]
        return prepared

    def decode(self, outputs: np.ndarray, prepared: Prepared, card: ModelCard) -> dict[str, Any]:
        samples: list[DigitSample] = prepared.context
        temperature = card_temperature(card)
        rows, thinned = digit_outputs(outputs, samples, temperature)
        probabilities = calibrated(rows, temperature)
        # A group that may be one wide digit or two touching ones is read the way the model is
        # surest of, weighed with the pair detector's verdict; only the chosen reading's digits
        # are reported.
        chosen = choose_readings(samples, probabilities.max(axis=1), pair_verdicts(prepared, card))
        digits: list[dict[str, Any]] = []
        for index in chosen:
            sample, probability = samples[index], probabilities[index]
            seen = sample.thinned if thinned[index] and sample.thinned is not None else sample.pixels
            best = int(np.argmax(probability))
            confidence = float(probability[best])
            digits.append(
                {
                    "digit": int(card.classes[best]),
                    "confidence": round(confidence, 4),
                    "probabilities": [round(float(p), 4) for p in probability],
                    "rejected": confidence < self.min_confidence,
                    "box": list(sample.box),
                    "image_png_base64": _png_base64(seen),
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
            mark = "mark" if len(digits) == 1 else f"digit {positions}"
            result["reject_reason"] = (
                f"{mark} not like any digit: confidence below the threshold {self.min_confidence:g}"
            )
        return result


def digit_outputs(
    outputs: np.ndarray, samples: list[DigitSample], temperature: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's row of the model's (uncalibrated) outputs, and which of them are its thinned
    version's: `outputs` holds the samples' rows, then one for each sample with a `thinned`
    version, in order. The thinned row is taken where it is at least THINNED_SURE sure and
    surer than the sample's own by THINNED_MARGIN (calibrated at `temperature`)."""
    rows = np.array(outputs[: len(samples)])
    taken = np.zeros(len(samples), dtype=bool)
    twins = np.array([index for index, sample in enumerate(samples) if sample.thinned is not None], dtype=int)
    if twins.size:
        thinned_rows = outputs[len(samples) : len(samples) + twins.size]
        own = calibrated(rows[twins], temperature).max(axis=1)
        thin = calibrated(thinned_rows, temperature).max(axis=1)
        better = (thin >= THINNED_SURE) & (thin > own + THINNED_MARGIN)
        rows[twins[better]] = thinned_rows[better]
        taken[twins[better]] = True
    return rows, taken


def pair_verdicts(prepared: Prepared, card: ModelCard) -> dict[int, float]:
    """The pair detector's evidence per splittable group (none when the model has no detector),
    less the offset `train-pairs` chose for this model and recorded in its card."""
    outputs = prepared.component_outputs.get(PAIRS)
    if outputs is None:
        return {}
    offset = float(((card.model_extra or {}).get(PAIRS) or {}).get("offset", 0.0))
    return pair_evidence(list(splittable_groups(prepared.context)), outputs, offset)


def card_temperature(card: ModelCard) -> float:
    """The softmax temperature the evaluate command fitted (`--calibrate`); 1 for none."""
    calibration = (card.model_extra or {}).get("calibration") or {}
    return float(calibration.get("temperature", 1.0))


def calibrated(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature scaling of a softmax output: softmax(log(p) / T), which equals
    softmax(logits / T), so a model that ends in a softmax needs no second output."""
    if temperature == 1.0:
        return probabilities
    logits = np.log(np.clip(probabilities, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=-1, keepdims=True)


def _png_base64(pixels: np.ndarray) -> str:
    """The 28x28 input exactly as the model saw it, for the user to see why an answer came out."""
    buffer = io.BytesIO()
    Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8), mode="L").save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
