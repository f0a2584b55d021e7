"""What a recognizer is: a pre-processing step and a decoder around a model.

The shared service (`recognition_common.service`) does everything else: intake, validation,
model loading, batching, errors, health and metrics. A new recognizer implements this protocol
and nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from PIL import Image

from recognition_common.model_card import ModelCard


@dataclass
class Prepared:
    """Model-ready samples of one request, plus whatever the decoder needs to explain them."""

    inputs: np.ndarray  # (k, *card.input_shape) float32: k samples from one image
    context: Any = None


class Recognizer(Protocol):
    task: str
    # Bumped whenever pre-processing or decoding changes its output for the same image and model;
    # the gateway's cache key includes it.
    preprocess_version: str

    def preprocess(self, image: Image.Image, card: ModelCard) -> Prepared:
        """Turn a decoded, upright image into model inputs; raise ApiError(422) if unreadable."""
        ...

    def decode(self, outputs: np.ndarray, prepared: Prepared, card: ModelCard) -> dict[str, Any]:
        """Turn model outputs into the task's `result` object: at least `text` and `confidence`."""
        ...
