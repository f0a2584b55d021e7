"""Digit service settings: environment variables prefixed `DIGIT_` (see README, Configuration)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from recognition_common.settings import RecognizerSettings

SERVICE_ROOT = Path(__file__).resolve().parent.parent


class DigitSettings(RecognizerSettings):
    model_config = SettingsConfigDict(env_prefix="DIGIT_", protected_namespaces=())

    model_dir: Path = SERVICE_ROOT / "models"
    default_model: str | None = "cnn"
    # Below this softmax confidence a digit is flagged `rejected` (unreadable) rather than
    # passed off as a confident guess.
    min_confidence: float = 0.6
