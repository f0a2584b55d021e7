"""Decoding and pre-processing in worker processes, beside the event loop rather than on it.

A recognizer service spends most of a request's CPU turning the upload into model input
(measured on canvas drawings: decoding and pre-processing a canvas PNG is about a millisecond,
half of what the whole request costs). Done on the event loop, that millisecond is the ceiling on
requests a second however many cores there are; done in threads, the threads fight the loop for
the GIL (measured: 40% more CPU a request). Worker processes have their own interpreters: the loop
only hands over the bytes (about 0.2 ms of pickling and waking up) and keeps serving HTTP and
feeding the batcher while the image is prepared on another core.

`prepare_upload` is what runs in a worker: the same `open_image` checks, `load_image` and the
recognizer's own `preprocess` as in-process, so answers and errors are identical either way (an
`ApiError` raised there comes back as itself). Workers are started with `spawn`: the service has
TensorFlow's threads running, which `fork` would copy in an undefined state, and a spawned worker
imports only the recognizer's pre-processing (numpy, Pillow, SciPy), not TensorFlow.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from PIL import Image

from recognition_common.edge import errors
from recognition_common.edge.errors import ApiError
from recognition_common.edge.imaging import ImageLimits, load_image, open_image
from recognition_common.serving.model_card import ModelCard
from recognition_common.serving.recognizer import Prepared, Recognizer

logger = logging.getLogger("recognition.preprocessing")
_RETRY = {"Retry-After": "1"}


def prepare_image(recognizer: Recognizer, image: Image.Image, card: ModelCard) -> Prepared:
    """An image from `open_image` decoded and pre-processed for `card`'s model (in-process too)."""
    return recognizer.preprocess(load_image(image), card)


def prepare_upload(recognizer: Recognizer, data: bytes, limits: ImageLimits, card: ModelCard) -> Prepared:
    """An upload checked, decoded and pre-processed for `card`'s model: a worker's whole job."""
    return prepare_image(recognizer, open_image(data, limits), card)


# A worker's recognizer and limits, set once when it starts (`_install`) rather than pickled
# with every request; unpickling the recognizer there also imports its pre-processing code.
_installed: tuple[Recognizer, ImageLimits] | None = None


def _install(recognizer: Recognizer, limits: ImageLimits) -> None:
    global _installed
    _installed = (recognizer, limits)


def _ready() -> bool:
    return _installed is not None


def _prepare_installed(data: bytes, card: ModelCard) -> Prepared:
    assert _installed is not None, "a pre-processing worker without its recognizer"
    recognizer, limits = _installed
    return prepare_upload(recognizer, data, limits, card)


class PreprocessPool:
    """`processes` spawned workers running `prepare_upload` for `recognizer`; one that dies is
    replaced."""

    def __init__(self, processes: int, recognizer: Recognizer, limits: ImageLimits) -> None:
        self.processes = processes
        self._worker_state = (recognizer, limits)
        self._executor: ProcessPoolExecutor | None = None

    async def start(self) -> None:
        """Spawn the workers and wait until each has imported what it needs: the first requests
        must not pay for interpreter start-up (a second or two)."""
        self._executor = self._new_executor()
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._executor, _ready) for _ in range(self.processes)))

    async def prepare(self, data: bytes, card: ModelCard) -> Prepared:
        executor = self._executor
        if executor is None:
            raise ApiError(503, errors.NOT_READY, "the pre-processing workers are not running", dict(_RETRY))
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, _prepare_installed, data, card)
        except BrokenProcessPool as exc:
            # A worker died (killed, or out of memory on a huge image): this request and the
            # others in flight fail with a retryable 503, and a fresh pool takes the next ones.
            if self._executor is executor:
                logger.error("a pre-processing worker died; starting new workers")
                executor.shutdown(wait=False, cancel_futures=True)
                self._executor = self._new_executor()
            raise ApiError(
                503, errors.BACKEND_UNAVAILABLE, "the pre-processing worker failed; try again", dict(_RETRY)
            ) from exc

    def close(self) -> None:
        if self._executor is not None:
            executor, self._executor = self._executor, None
            executor.shutdown(wait=True, cancel_futures=True)

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_install,
            initargs=self._worker_state,
        )
