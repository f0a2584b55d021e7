"""How one request's image becomes an answer: three execution strategies behind one protocol.

* `PooledStrategy`     a plain recognizer whose whole pre-processing (bytes -> model input) runs
                       in worker processes (`workers.PreprocessPool`), beside the event loop;
* `InProcessStrategy`  a plain recognizer pre-processed in this process: small images on the
                       event loop, large ones on a few threads;
* `StagedStrategy`     a staged recognizer, which goes back and forth between its models and CPU
                       steps (`recognizer.Stages`) and so keeps its threads.

Which one a service uses is decided once, by `choose_strategy`, from the task's declared
`Execution` and the settings: never by looking at the recognizer's attributes. The model itself
always runs on its batcher's thread.

Why threads only for large images: a canvas-sized image takes about a millisecond, less than
handing it to a thread and back, and threads holding the GIL slow each other down (measured: 40%
more CPU per request); a photo, whose decoding takes tens of milliseconds, goes to a thread so the
loop stays responsive.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

import numpy as np
from pydantic import BaseModel

from recognition_common.edge.imaging import load_image, open_image
from recognition_common.serving.model_card import ModelCard
from recognition_common.serving.options import parse_options
from recognition_common.serving.recognizer import Prepared, Recognizer, StagedRecognizer
from recognition_common.serving.registry import ServedModel
from recognition_common.serving.settings import RecognizerSettings
from recognition_common.serving.workers import PreprocessPool, prepare_image

logger = logging.getLogger("recognition.service")

T = TypeVar("T")


class ExecutionStrategy(Protocol):
    """Runs one upload through pre-processing, the served model's batcher(s) and decoding."""

    async def start(self) -> None:
        """Before any model loads: whatever the strategy runs beside the event loop."""
        ...

    async def recognize(self, served: ServedModel, data: bytes, options: Mapping[str, str]) -> dict[str, Any]:
        """The task's `result` object for `data`, or an `ApiError` refusing it."""
        ...

    def close(self) -> None:
        """At shutdown."""
        ...


async def infer_prepared(served: ServedModel, prepared: Prepared) -> np.ndarray:
    """The model's outputs for `prepared.inputs`; the passes its components were asked for
    (`prepared.component_inputs`) run at the same time, into `prepared.component_outputs`."""
    names = [name for name, inputs in prepared.component_inputs.items() if len(inputs)]
    if not names:  # the usual case: no extra task to schedule on every request's hot path
        return await served.batcher.submit(prepared.inputs)
    outputs, *others = await asyncio.gather(
        served.batcher.submit(prepared.inputs),
        *(served.components[name].batcher.submit(prepared.component_inputs[name]) for name in names),
    )
    prepared.component_outputs.update(zip(names, others, strict=True))
    return outputs


class CpuRunner:
    """CPU work of a request: on the event loop for small images, on `threads` threads else."""

    def __init__(self, threads: int, inline_max_pixels: int) -> None:
        self.inline_max_pixels = inline_max_pixels
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="cpu")

    def inline(self, width: int, height: int) -> bool:
        return width * height <= self.inline_max_pixels

    async def run(self, inline: bool, function: Callable[..., T], *args: Any) -> T:
        if inline:
            return function(*args)
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=False)


class InProcessStrategy:
    """A plain recognizer: `open_image`, `preprocess`, the batcher, `decode`, in this process."""

    def __init__(self, recognizer: Recognizer, settings: RecognizerSettings) -> None:
        self.recognizer = recognizer
        self.limits = settings.image_limits
        self.cpu = CpuRunner(settings.preprocess_threads, settings.inline_max_pixels)

    async def start(self) -> None:
        return None

    async def recognize(self, served: ServedModel, data: bytes, options: Mapping[str, str]) -> dict[str, Any]:
        image = open_image(data, self.limits)  # validated, header only: decoding happens later
        inline = self.cpu.inline(image.width, image.height)
        card = served.card
        prepared = await self.cpu.run(inline, prepare_image, self.recognizer, image, card)
        outputs = await infer_prepared(served, prepared)
        return await self.cpu.run(inline, self.recognizer.decode, outputs, prepared, card)

    def close(self) -> None:
        self.cpu.close()


class PooledStrategy:
    """A plain recognizer pre-processed in worker processes; in-process when they cannot start
    (e.g. no writable /dev/shm for multiprocessing's locks)."""

    def __init__(self, recognizer: Recognizer, settings: RecognizerSettings) -> None:
        self.recognizer = recognizer
        self.fallback = InProcessStrategy(recognizer, settings)
        self.pool: PreprocessPool | None = PreprocessPool(
            settings.preprocess_processes, recognizer, settings.image_limits
        )

    async def start(self) -> None:
        assert self.pool is not None
        try:
            await self.pool.start()
        except Exception:
            logger.exception("pre-processing worker processes did not start; pre-processing in-process")
            self.pool.close()
            self.pool = None

    async def recognize(self, served: ServedModel, data: bytes, options: Mapping[str, str]) -> dict[str, Any]:
        if self.pool is None:
            return await self.fallback.recognize(served, data, options)
        prepared = await self.pool.prepare(data, served.card)
        outputs = await infer_prepared(served, prepared)
        return self.recognizer.decode(outputs, prepared, served.card)

    def close(self) -> None:
        self.fallback.close()
        if self.pool is not None:
            self.pool.close()


class RequestStages:
    """`Stages` for one request: the model's batchers, and CPU work where this image belongs."""

    def __init__(self, served: ServedModel, inline: bool, cpu: CpuRunner) -> None:
        self._served = served
        self._inline = inline
        self._cpu = cpu

    def _model(self, component: str | None) -> ServedModel:
        return self._served if component is None else self._served.components[component]

    def card(self, component: str | None = None) -> ModelCard:
        return self._model(component).card

    async def infer(self, inputs: np.ndarray, component: str | None = None) -> np.ndarray:
        return await self._model(component).batcher.submit(inputs)

    async def cpu(self, function: Callable[..., T], *args: Any) -> T:
        return await self._cpu.run(self._inline, function, *args)


class StagedStrategy:
    """A staged recognizer: the decoded image, its validated options and `RequestStages`.

    Options are validated after the image's header is checked, as they always were: a request
    that is not an image is a 415 whatever its options say.
    """

    def __init__(
        self, recognizer: StagedRecognizer, settings: RecognizerSettings, options: type[BaseModel]
    ) -> None:
        self.recognizer = recognizer
        self.options = options
        self.limits = settings.image_limits
        self.cpu = CpuRunner(settings.preprocess_threads, settings.inline_max_pixels)

    async def start(self) -> None:
        return None

    async def recognize(self, served: ServedModel, data: bytes, options: Mapping[str, str]) -> dict[str, Any]:
        image = open_image(data, self.limits)
        inline = self.cpu.inline(image.width, image.height)
        stages = RequestStages(served, inline, self.cpu)
        decoded = await self.cpu.run(inline, load_image, image)
        parsed = parse_options(self.options, options)
        return await self.recognizer.run(decoded, served.card, stages, parsed)

    def close(self) -> None:
        self.cpu.close()
