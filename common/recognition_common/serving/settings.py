"""Settings every recognizer service shares; each service subclasses with its own env prefix."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic_settings import BaseSettings, SettingsConfigDict

from recognition_common.edge.imaging import ImageLimits


class RecognizerSettings(BaseSettings):
    """Read from the environment as `<PREFIX>_<FIELD>`, e.g. `<TASK>_MAX_BATCH=64`."""

    model_config = SettingsConfigDict(env_prefix="RECOGNIZER_", protected_namespaces=())

    model_dir: Path = Path("models")
    default_model: str | None = None  # None: the first model by name
    max_batch: int = 32
    max_wait_ms: float = 2.0
    max_queue: int = 256  # samples waiting; beyond this requests get 503 + Retry-After
    max_upload_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000
    inline_max_pixels: int = 250_000  # images up to this size are pre-processed on the event loop
    preprocess_threads: int = 2  # threads that pre-process larger images
    # Worker processes that decode and pre-process uploads (recognition_common.serving.workers);
    # 0: on the event loop and the threads above, as a staged recognizer always does.
    preprocess_processes: int = 1
    inference_threads: int = 0  # TensorFlow intra-op threads; 0 lets TensorFlow decide
    body_timeout_s: float = 30.0  # a request body not complete by then: 408 (0: no limit)
    # POST /v1/admin/reload needs `Authorization: Bearer <token>` when set; empty: open (the
    # recognizers are reachable only from the gateway's network, which does not forward it).
    admin_token: str = ""

    @property
    def image_limits(self) -> ImageLimits:
        return ImageLimits(max_bytes=self.max_upload_bytes, max_pixels=self.max_pixels)


# A task's own settings class (the one its spec names): what its spec, service and routes are typed by.
SettingsT = TypeVar("SettingsT", bound=RecognizerSettings)
