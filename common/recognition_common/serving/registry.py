"""The models a service serves, by name: each behind its micro-batcher, with its components.

Kept apart from loading (`loader`) and reloading (`reloading`): both of those change what the
registry holds, and the request path only reads it, so neither needs the other's code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recognition_common.edge import errors
from recognition_common.edge.errors import ApiError
from recognition_common.serving.batching import MicroBatcher
from recognition_common.serving.model_card import ModelCard
from recognition_common.serving.models import DeviceInfo


@dataclass
class ServedModel:
    """One loaded model: its card, its batcher, its components and the files it came from."""

    card: ModelCard
    batcher: MicroBatcher
    # Of the files it was loaded from, components included (`models.fingerprint`): reported in
    # answers and `/v1/models` beside the card's version, and part of the gateway's cache keys.
    fingerprint: str = ""
    # Models the recognizer runs besides the main one (the card's `components`), each batched alone.
    components: dict[str, ServedModel] = field(default_factory=dict)
    model_dir: Path | None = None
    in_flight: int = 0  # requests using it now; a replaced model stops once this is 0

    def describe(self) -> dict[str, Any]:
        """The card as `GET /v1/models` shows it, with its fingerprint; components as cards."""
        described = {**self.card.model_dump(mode="json"), "fingerprint": self.fingerprint}
        if self.components:
            described["components"] = {
                name: component.describe() for name, component in self.components.items()
            }
        return described

    def reference(self) -> dict[str, Any]:
        """How an answer names the model that computed it: name, version and files' fingerprint."""
        return {"name": self.card.name, "version": self.card.version, "fingerprint": self.fingerprint}

    def batchers(self) -> list[MicroBatcher]:
        return [self.batcher, *(b for c in self.components.values() for b in c.batchers())]

    async def stop(self) -> None:
        """Finish what its batchers (components' too) hold, then stop them."""
        for batcher in self.batchers():
            await batcher.stop()


class ModelRegistry:
    """The models a service serves, by name, and whether they are ready."""

    def __init__(self) -> None:
        self.models: dict[str, ServedModel] = {}
        self.default: str | None = None
        self.ready = False
        self.error: str | None = None
        self.device: DeviceInfo | None = None

    def get(self, name: str | None) -> ServedModel:
        if not self.ready:
            raise ApiError(503, errors.NOT_READY, "models are still loading", {"Retry-After": "2"})
        chosen = name or self.default
        if chosen is None or chosen not in self.models:
            known = ", ".join(sorted(self.models))
            raise ApiError(404, errors.UNKNOWN_MODEL, f"unknown model {chosen!r}; known: {known}")
        return self.models[chosen]

    async def stop(self) -> None:
        """At shutdown: every served model's batchers."""
        for served in self.models.values():
            await served.stop()
