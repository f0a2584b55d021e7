"""What a recognizer is: a pre-processing step and a decoder around a model.

The serving layer (`recognition_common.serving`) does everything else: intake, validation,
model loading, batching, errors, health and metrics. A new recognizer implements this protocol
and nothing more, and its task folder describes it in a `TaskSpec`.

A recognizer whose answer takes more than one model call (one model finds a region,
another reads it) also implements `StagedRecognizer`:
the service then hands it the decoded image, its request's options (the task's `Options` model,
validated) and a `Stages` object to run its models through, batched like everyone else's,
instead of calling `preprocess` and `decode` itself. Which of the two a task is, its `TaskSpec`
says (`Execution`), not the recognizer's attributes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np
from PIL import Image

from recognition_common.serving.model_card import ModelCard

T = TypeVar("T")


@dataclass
class Prepared:
    """Model-ready samples of one request, plus whatever the decoder needs to explain them.

    A plain recognizer whose model has components (sub-directory models named in its card's
    `components`) may ask each for a forward pass of its own inputs, known once the image is
    pre-processed: `component_inputs` by component name. The service runs them beside the
    model's own pass, on the component's batcher, and hands `decode` their outputs in
    `component_outputs`.
    """

    inputs: np.ndarray  # (k, *card.input_shape) float32: k samples from one image
    context: Any = None
    component_inputs: dict[str, np.ndarray] = field(default_factory=dict)
    component_outputs: dict[str, np.ndarray] = field(default_factory=dict)


@runtime_checkable
class Recognizer(Protocol):
    task: str
    # Bumped whenever pre-processing or decoding changes its output for the same image and model;
    # the gateway's cache key includes it.
    preprocess_version: str

    # `card` is the task's own card class (its spec's `card`, a ModelCard), hence typed Any here:
    # a recognizer reading its own card subclass is no less a Recognizer.
    def preprocess(self, image: Image.Image, card: Any) -> Prepared:
        """Turn a decoded, upright image into model inputs; raise ApiError(422) if unreadable."""
        ...

    def decode(self, outputs: np.ndarray, prepared: Prepared, card: Any) -> dict[str, Any]:
        """Turn model outputs into the task's `result` object: at least `text` and `confidence`."""
        ...


class Stages(Protocol):
    """What a staged recognizer runs its work through, per request."""

    async def infer(self, inputs: np.ndarray, component: str | None = None) -> np.ndarray:
        """Batched forward pass of the request's model, or of one of its components (a model in
        a sub-directory of the model's directory, named in its card's `components`)."""
        ...

    def card(self, component: str | None = None) -> ModelCard:
        """The card of the request's model, or of one of its components (e.g. its input shape)."""
        ...

    async def cpu(self, function: Callable[..., T], *args: Any) -> T:
        """Run CPU work (pre-processing, decoding) where the service runs it for this image."""
        ...


@runtime_checkable
class StagedRecognizer(Protocol):
    task: str
    preprocess_version: str

    async def run(self, image: Image.Image, card: Any, stages: Stages, options: Any) -> dict[str, Any]:
        """The whole recognition of one decoded, upright image: the task's `result` object.

        `card` is the task's card class and `options` its `Options` model, both validated by the
        service (a bad option is already a 400). Raise ApiError (422 for an unreadable image) to
        refuse the image."""
        ...
