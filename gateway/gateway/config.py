"""Gateway settings: environment variables prefixed `GATEWAY_`, plus `REDIS_URL`."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import AliasChoices, BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from recognition_common.edge.imaging import ImageLimits

REPO_ROOT = Path(__file__).resolve().parents[2]

# A task name is a path segment of the API and a folder of the corrections store.
TASK_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")

# The only place the gateway names its tasks: what it serves when nothing is configured, and the
# rules for the tasks whose catalogue cannot say what a correct label is. Every other piece of
# task knowledge comes from the backends' catalogues (`GET /v1/models`).
DEFAULT_BACKENDS = {
    "digit": "http://127.0.0.1:8001",
    "captcha": "http://127.0.0.1:8002",
    "meter": "http://127.0.0.1:8003",
}
DEFAULT_DESCRIPTION = "Handwritten digits, text CAPTCHAs and water-meter readings over one JSON API."


class LabelRule(BaseModel):
    """How a correction's text is checked for one task (gateway.labels).

    For tasks whose model cards do not say it themselves (a card with `charset` or `classes` and
    `min_length`/`max_length` needs no rule).
    """

    pattern: str = Field(description="A regular expression the whole label must match")
    describe: str = Field(description="What a right label is, for the 422 message")
    length_field: str | None = Field(
        default=None,
        description="A form field in which the sender may state the label's length (or `auto`); "
        "it must then match, and is kept with the correction",
    )
    folder_per_label: bool = Field(
        default=False,
        description="Exports put a one-character label's images in a folder named after it",
    )


DEFAULT_LABEL_RULES = {
    "digit": LabelRule(
        pattern="[0-9]{1,16}", describe="a digit answer is 1 to 16 digits 0-9", folder_per_label=True
    ),
    "meter": LabelRule(
        pattern="[0-9]{4,8}",
        describe="a meter reading is 4 to 8 digits (one per wheel)",
        length_field="wheels",
    ),
}


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_")

    # GATEWAY_BACKENDS: a JSON object, task -> base URL of its recognizer service. A task whose
    # URL is empty is not offered (404 unknown_task); a task not named is not offered either.
    backends: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_BACKENDS))
    # GATEWAY_LABEL_RULES: a JSON object, task -> LabelRule (see above).
    label_rules: dict[str, LabelRule] = Field(default_factory=lambda: dict(DEFAULT_LABEL_RULES))
    description: str = DEFAULT_DESCRIPTION  # the API's description in /openapi.json and /docs

    # Unset: the embedded in-process LRU cache. Set (redis://host:6379/0): shared Redis cache.
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "GATEWAY_REDIS_URL")
    )
    cache_ttl_s: int = 24 * 3600
    cache_max_items: int = 10_000  # in-process cache only
    cache_retry_s: float = 1.0  # after a Redis failure, requests skip Redis this long
    # With Redis: an in-process LRU in front of it for hot images (0 turns it off).
    near_cache_items: int = 1024
    near_cache_ttl_s: float = 60.0

    backend_timeout_s: float = 10.0
    backend_connect_timeout_s: float = 1.0
    # Small on purpose: httpx scans its whole pool on every request, and the recognizers batch
    # anyway. Measured at 64 clients: 16 connections gave 400 req/s, 64 gave 170.
    backend_max_connections: int = 16
    catalogue_ttl_s: float = 2.0  # how long the backends' model lists are trusted (one GET each)

    max_upload_bytes: int = 10 * 1024 * 1024
    body_timeout_s: float = 30.0  # a request body not complete by then: 408 (0: no limit)
    max_pixels: int = 40_000_000
    frontend_dir: Path = REPO_ROOT / "frontend"

    # JSON {"image_url": ...} (gateway.fetch): only public addresses, unless allow_private (tests,
    # intranets). Allowed hosts: comma-separated, exact or *.example.com; empty: any public host.
    url_fetch_enabled: bool = True
    url_allow_private: bool = False
    url_allowed_hosts: str = ""
    url_max_bytes: int | None = None  # unset: max_upload_bytes
    url_timeout_s: float = 5.0  # the whole fetch: DNS, redirects and body

    # Access (gateway.security). Comma-separated API keys; empty: /api/v1 is open (local default).
    api_keys: str = Field(default="", validation_alias=AliasChoices("GATEWAY_API_KEYS", "API_KEYS"))
    rate_limit_per_minute: int = 0  # per API key, or per client address without keys; 0: off
    cors_origins: str = ""  # comma-separated origins allowed cross-origin; empty: no CORS headers

    # Corrections users send (POST /api/v1/{task}/feedback), one folder per task; shared by every
    # replica (a Docker volume, a ReadWriteMany claim). Empty: corrections are not kept (404).
    feedback_dir: Path | None = REPO_ROOT / ".data" / "feedback"

    @field_validator("feedback_dir", mode="before")
    @classmethod
    def _empty_means_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("backends")
    @classmethod
    def _served_backends(cls, value: dict[str, str]) -> dict[str, str]:
        """Empty URLs dropped (the task is off), trailing slashes stripped, names checked."""
        for task in value:
            if not TASK_NAME.fullmatch(task):
                raise ValueError(f"task name {task!r} must match {TASK_NAME.pattern}")
        return {task: url.strip().rstrip("/") for task, url in value.items() if url.strip()}

    @property
    def api_key_list(self) -> list[str]:
        return [key.strip() for key in self.api_keys.split(",") if key.strip()]

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def image_limits(self) -> ImageLimits:
        return ImageLimits(max_bytes=self.max_upload_bytes, max_pixels=self.max_pixels)
