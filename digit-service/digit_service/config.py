"""Digit service settings: environment variables prefixed `DIGIT_` (see README, Configuration)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from recognition_common.serving.settings import RecognizerSettings

SERVICE_ROOT = Path(__file__).resolve().parent.parent


class DigitSettings(RecognizerSettings):
    model_config = SettingsConfigDict(env_prefix="DIGIT_", protected_namespaces=())

    model_dir: Path = SERVICE_ROOT / "models"
    default_model: str | None = "cnn"
    # Below this (calibrated) confidence a digit is flagged `rejected` (unreadable, or no digit at
    # all) rather than passed off as a confident guess. 0.5: the highest threshold that refuses
    # under half of the 1% budget of real digits on held-out images (cnn: 0.40% of MNIST's
    # validation tail, 0.45% of the rendered styles, 97.7% of junk; `evaluate --calibrate`).
    min_confidence: float = 0.5
