"""Meter service settings: environment variables prefixed `METER_`."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from recognition_common.serving.settings import RecognizerSettings

PACKAGE_ROOT = Path(__file__).resolve().parent
SERVICE_ROOT = PACKAGE_ROOT.parent


class MeterSettings(RecognizerSettings):
    model_config = SettingsConfigDict(env_prefix="METER_", protected_namespaces=())

    model_dir: Path = SERVICE_ROOT / "models"
    # Samples (wheel crops, locator views) waiting per model before requests get 503. With
    # wheels=auto a photo's first reader call is 30 crops (a window crop's 60), so the shared
    # default of 256 would turn away a few concurrent photos; 1024 is some 16-30 photos deep.
    max_queue: int = 1024
    default_model: str | None = "default"
    # A wheel read with less than this confidence (probability mass within half a digit of its
    # position) flags the reading `rejected`: a meter reading feeds a bill, so a likely misread
    # should go back to the caller (another photo, a person) rather than through.
    min_confidence: float = 0.5
    # The locator's belief (0..1) that it found a counter window. Below this the reading is still
    # made and returned, with its crop, but `rejected`: a wrong window reads as confident nonsense.
    min_window_score: float = 0.5
    # The reading's overall confidence (the product of its wheels') below which it is `rejected`.
    # Chosen from the rejection curves `make evaluate-meter` prints (reader 1.2.0, a wheel count
    # in doubt refused: pipeline.COUNT_MARGIN, WHOLE_COUNT_SURE 0.75, alternatives read below
    # pipeline.SURE 0.99): on generated photos (500, seed 2026) right among accepted 96.7% with no
    # threshold, 98.9% at 0.9 with 8.8% refused; on strips composed from the real validation
    # crops (seeds 2026 / 77) 98.9% / 98.6% at 0.7 with 5.0% / 6.0% refused, 98.9% / 98.6% at 0.8
    # with 5.3% / 7.0%, 98.9% / 99.3% at 0.9 with 6.7% / 9.3%, 99.3% / 99.6% at 0.95 with 10.0% /
    # 12.3%. 0.7 to 0.9 all keep at least 98% right and at most 10% refused at both seeds; 0.9
    # keeps the widest margin over 98% (meters never trained on read about half a point worse
    # than the validation split's): a utility would rather send a photo back than bill a
    # misreading, but not refuse one in seven.
    min_reading_confidence: float = 0.9
    # Sample images served zipped by GET /v1/demo. Inside the package so that a plain
    # `pip install` (the Docker image) carries them.
    demo_dir: Path = PACKAGE_ROOT / "demo"
