"""From a model directory to a `ServedModel`: compiled, warmed, fingerprinted, batched.

The service's start-up (`load_all`) and a reload (`reloading.ModelReloader`) load models the
same way, through one `ModelLoader`, so a reloaded model is indistinguishable from one served
since start-up: same batcher settings, same metrics, same card class.
"""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from recognition_common.edge.metrics import RecognizerMetrics
from recognition_common.serving.batching import BatchStats, MicroBatcher
from recognition_common.serving.model_card import ModelCard
from recognition_common.serving.models import (
    PredictFn,
    configure_tensorflow,
    find_model_dirs,
    fingerprint,
    load_compiled,
)
from recognition_common.serving.registry import ModelRegistry, ServedModel
from recognition_common.serving.settings import RecognizerSettings

logger = logging.getLogger("recognition.service")


class ModelLoader:
    """Loads a task's models (as its `card_class`) behind batchers that report to `metrics`."""

    def __init__(
        self, settings: RecognizerSettings, metrics: RecognizerMetrics, card_class: type[ModelCard]
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.card_class = card_class

    async def load_all(self, registry: ModelRegistry) -> None:
        """Start-up: every model under the model directory into `registry`, then ready.

        A failure is kept in `registry.error` (reported by /readyz) rather than raised: the
        process stays up for inspection.
        """
        settings = self.settings
        try:
            registry.device = await run_in_threadpool(configure_tensorflow, settings.inference_threads)
            model_dirs = find_model_dirs(settings.model_dir)
            if not model_dirs:
                raise RuntimeError(
                    f"no model directories with model.keras + card.json in {settings.model_dir}"
                )
            for model_dir in model_dirs:
                served = await self.load(model_dir)
                registry.models[served.card.name] = served
                self.activate(served)
            registry.default = settings.default_model or sorted(registry.models)[0]
            if registry.default not in registry.models:
                raise RuntimeError(f"default model {registry.default!r} not found in {settings.model_dir}")
            registry.ready = True
        except (RuntimeError, FileNotFoundError) as exc:  # a setting points at no model: one line
            registry.error = f"{type(exc).__name__}: {exc}"
            logger.error("model loading failed: %s", registry.error)
        except Exception as exc:
            registry.error = f"{type(exc).__name__}: {exc}"
            logger.exception("model loading failed")

    async def load(self, model_dir: Path, label: str | None = None) -> ServedModel:
        """A model directory and its components, compiled, warmed and each behind a batcher.

        Components are read as plain `ModelCard`s: the task's card class describes its main model.
        """
        card_class = self.card_class if label is None else ModelCard
        files = await run_in_threadpool(fingerprint, model_dir)
        card, predict = await run_in_threadpool(load_compiled, model_dir, self.settings.max_batch, card_class)
        name = label or card.name
        components: dict[str, ServedModel] = {}
        try:
            for component in card.components:
                components[component] = await self.load(model_dir / component, f"{name}/{component}")
            if label is None and await run_in_threadpool(fingerprint, model_dir) != files:
                raise RuntimeError(f"the files in {model_dir} changed while they were loaded; reload again")
        except BaseException:
            for loaded in components.values():
                await loaded.stop()
            raise
        return ServedModel(card, self._batcher(name, predict), files, components, model_dir)

    def activate(self, served: ServedModel) -> None:
        """Point the queue-depth gauges at a model that is now being served."""
        task = self.metrics.task
        gauge = self.metrics.queue_depth.labels(task, served.batcher.name)  # "cnn", "default/locator"
        gauge.set_function(lambda: served.batcher.queued_samples)
        for component in served.components.values():
            self.activate(component)

    def _batcher(self, name: str, predict: PredictFn) -> MicroBatcher:
        settings, task = self.settings, self.metrics.task
        # The metric children for this batcher, looked up once rather than on every batch.
        batch_size = self.metrics.batch_size.labels(task, name)
        inference = self.metrics.inference.labels(task, name)

        def observe(stats: BatchStats) -> None:
            batch_size.observe(stats.size)
            inference.observe(stats.infer_seconds)

        batcher = MicroBatcher(
            name,
            predict,
            max_batch=settings.max_batch,
            max_wait_ms=settings.max_wait_ms,
            max_queue=settings.max_queue,
            on_batch=observe,
        )
        batcher.start()
        return batcher
