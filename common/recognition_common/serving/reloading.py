"""Replacing served models while the service runs: `POST /v1/admin/reload` or SIGHUP.

A reload looks at the model directory again. A model whose files changed (its fingerprint: see
`models.fingerprint`) or that is new is loaded *beside* the one being served, compiled and
warmed; models whose files did not change are kept as they are. Only when every changed model
has loaded does the registry switch, in one assignment on the event loop, so a request is served
entirely by the old model or entirely by the new one, and readiness never drops. The old model
then drains: once no request uses it any more, its batchers finish and stop.

A reload is all or nothing: if any changed model fails (garbage in `model.keras`, a card that
does not validate, a component that is missing, the default model gone), nothing is swapped,
whatever was loaded for it is discarded, and the reason is reported (the endpoint answers
422 `reload_failed`; SIGHUP logs it). The previous models keep serving.

Components (sub-directory models named in a card's `components`) are part of their parent's
fingerprint, so they reload with it.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool

from recognition_common.edge import errors
from recognition_common.edge.errors import ApiError
from recognition_common.serving.loader import ModelLoader
from recognition_common.serving.models import find_model_dirs, fingerprint
from recognition_common.serving.registry import ModelRegistry, ServedModel

logger = logging.getLogger("recognition.reload")

DRAIN_TIMEOUT_S = 60.0  # an old model is stopped after this even if a request still holds it
MAX_REASON_CHARS = 400


class ReloadRefused(ApiError):
    """Nothing was swapped; `failures` says why, by model directory."""

    def __init__(self, failures: dict[str, str]) -> None:
        reasons = "; ".join(f"{where}: {why}" for where, why in failures.items())
        super().__init__(
            422,
            errors.RELOAD_FAILED,
            f"reload refused, the previous models keep serving: {reasons}",
        )
        self.failures = failures


class ModelReloader:
    """Reloads `registry`'s models from `model_dir` through `loader`, the way they were loaded."""

    def __init__(
        self,
        registry: ModelRegistry,
        model_dir: Path,
        loader: ModelLoader,
        drain_timeout_s: float = DRAIN_TIMEOUT_S,
    ) -> None:
        self.registry = registry
        self.model_dir = model_dir
        self._loader = loader
        self.drain_timeout_s = drain_timeout_s
        self._lock = asyncio.Lock()
        self._retiring: dict[int, asyncio.Task[None]] = {}  # id(old served model) -> its drain

    @property
    def retiring(self) -> int:
        """Replaced models still draining."""
        return len(self._retiring)

    async def reload(self) -> dict[str, Any]:
        registry = self.registry
        if not registry.ready:
            raise ApiError(503, errors.NOT_READY, "models are still loading", {"Retry-After": "2"})
        if self._lock.locked():
            raise ApiError(409, errors.RELOAD_IN_PROGRESS, "a reload is already running")
        async with self._lock:
            current_by_dir = {served.model_dir: served for served in registry.models.values()}
            entries: list[tuple[Path, ServedModel, bool]] = []  # (dir, served, newly loaded)
            failures: dict[str, str] = {}
            for model_dir in await run_in_threadpool(find_model_dirs, self.model_dir):
                current = current_by_dir.get(model_dir)
                try:
                    if current is not None and current.fingerprint == await run_in_threadpool(
                        fingerprint, model_dir
                    ):
                        entries.append((model_dir, current, False))
                        continue
                    entries.append((model_dir, await self._loader.load(model_dir), True))
                except Exception as exc:
                    failures[model_dir.name] = _reason(exc)
            models: dict[str, ServedModel] = {}
            for model_dir, served, _ in entries:
                if served.card.name in models:
                    failures[model_dir.name] = f"a second model named {served.card.name!r}"
                models[served.card.name] = served
            if registry.default not in models:
                failures["default"] = f"the default model {registry.default!r} is not in {self.model_dir}"
            loaded = [served for _, served, new in entries if new]
            if failures:
                for served in loaded:
                    await served.stop()
                logger.error("model reload refused, the previous models keep serving: %s", failures)
                raise ReloadRefused(failures)

            previous = registry.models
            registry.models = models  # the swap: one assignment, between two requests
            for served in loaded:
                self._loader.activate(served)
            for served in previous.values():
                if models.get(served.card.name) is not served:
                    self._retire(served)
            report = {
                "status": "reloaded" if loaded or len(previous) != len(models) else "unchanged",
                "reloaded": sorted(s.card.name for s in loaded if s.card.name in previous),
                "added": sorted(s.card.name for s in loaded if s.card.name not in previous),
                "removed": sorted(set(previous) - set(models)),
                "unchanged": sorted(s.card.name for _, s, new in entries if not new),
                "models": {
                    name: {"version": served.card.version, "fingerprint": served.fingerprint}
                    for name, served in models.items()
                },
            }
            logger.info("model reload: %s", report)
            return report

    async def reload_logged(self) -> None:
        """A reload whose outcome only goes to the log (SIGHUP)."""
        try:
            report = await self.reload()
        except ReloadRefused:
            return  # logged by reload()
        except ApiError as exc:
            logger.error("model reload not done: %s", exc.message)
            return
        except Exception:
            logger.exception("model reload failed")
            return
        logger.warning(
            "model reload done: reloaded %s, added %s, removed %s",
            report["reloaded"],
            report["added"],
            report["removed"],
        )

    def _retire(self, served: ServedModel) -> None:
        self._retiring[id(served)] = asyncio.get_running_loop().create_task(self._drain(served))

    async def _drain(self, served: ServedModel) -> None:
        """Wait until no request uses `served`, then stop its batchers."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.drain_timeout_s
        try:
            while served.in_flight > 0 and loop.time() < deadline:
                await asyncio.sleep(0.01)
            await served.stop()
        finally:
            self._retiring.pop(id(served), None)

    async def close(self) -> None:
        """At shutdown: let draining models finish."""
        for task in list(self._retiring.values()):
            await task


def _reason(exc: Exception) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 3] + "..."
