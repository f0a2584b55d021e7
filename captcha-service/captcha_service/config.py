"""Captcha service settings: environment variables prefixed `CAPTCHA_`."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from recognition_common.serving.settings import RecognizerSettings

SERVICE_ROOT = Path(__file__).resolve().parent.parent


class CaptchaSettings(RecognizerSettings):
    model_config = SettingsConfigDict(env_prefix="CAPTCHA_", protected_namespaces=())

    model_dir: Path = SERVICE_ROOT / "models"
    default_model: str | None = "default"
    # A character read with less than this confidence flags the whole answer `rejected`: a
    # caller retrying a captcha is better off asking for a new one than sending a likely miss.
    min_confidence: float = 0.5
    # An answer whose confidence (the product of its characters': the chance all are right) is
    # below this is `rejected` too, however sure each character is. Chosen from the measured
    # calibration curve in the README ("Rejection").
    min_answer_confidence: float = 0.5
    max_batch_images: int = 64  # images in one POST /v1/recognize-batch
