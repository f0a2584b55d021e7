"""The meter recognizer: locate the counter window, read its wheels, compose the reading.

A staged recognizer (`recognition_common.serving.recognizer.StagedRecognizer`), handed its
request's options already checked (`options.MeterOptions`): a photo takes three
model calls, the locator (the served model's `locator` component) on the whole photo and again
on a zoomed view round its first estimate, then the wheel reader (the served model itself) on
the window's N cells; each model has its own micro-batcher, so concurrent requests share
forward passes. The CPU steps between them are
`pipeline`'s, the same code the evaluate command measures.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from meter_service import pipeline
from meter_service.card import LOCATOR, MeterCard
from meter_service.options import MeterOptions
from meter_service.pipeline import Thresholds
from recognition_common.serving.recognizer import Stages

# Bump when pre-processing or composing changes an answer for the same image and models. Each
# service keeps this in its recognizer.py, where it becomes the cache's `preprocess_version`.
PREPROCESS_VERSION = "meter-4"


class MeterRecognizer:
    task = "meter"

    def __init__(
        self, min_confidence: float, min_window_score: float, min_reading_confidence: float = 0.0
    ) -> None:
        self.thresholds = Thresholds(min_confidence, min_window_score, min_reading_confidence)
        # The thresholds change answers, so they are part of the version the gateway's cache sees.
        self.preprocess_version = (
            f"{PREPROCESS_VERSION}+reject{min_confidence:g}+window{min_window_score:g}"
            f"+reading{min_reading_confidence:g}"
        )

    async def run(
        self, image: Image.Image, card: MeterCard, stages: Stages, options: MeterOptions
    ) -> dict[str, Any]:
        locator_shape = tuple(stages.card(LOCATOR).input_shape)
        job = await stages.cpu(pipeline.start, image, options, locator_shape)
        view = job.view  # the whole photo (or crop), then refining views round the estimate
        while view is not None:
            output = await stages.infer(view, LOCATOR)
            view = await stages.cpu(pipeline.located, job, output[0])
        window = await stages.cpu(pipeline.cut, job)
        probabilities = await stages.infer(window.cells)
        # wheels=auto: the window was cut for every count; keep the count that reads best.
        window, probabilities = await stages.cpu(pipeline.count_wheels, window, probabilities)
        if await stages.cpu(pipeline.unsure, window, probabilities):
            # The cut as located read unsure: read it shifted and stretched a little too.
            others = await stages.infer(window.alternatives_input)
            probabilities = np.concatenate([probabilities, others])
        return await stages.cpu(pipeline.finish, job, window, probabilities, self.thresholds)
