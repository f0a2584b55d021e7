"""The captcha model's card: the base card plus the fields the captcha service reads.

Typed here, so a card missing the image size fails when the model loads (and `/readyz` says
why) rather than on the first `GET /captcha/`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from recognition_common.serving.model_card import ModelCard


class CaptchaCard(ModelCard):
    width: int = Field(description="Width of the model's input image, in pixels.")
    height: int = Field(description="Height of the model's input image, in pixels.")
    min_length: int = Field(1, description="Fewest characters a captcha of this model has.")
    max_length: int | None = Field(None, description="Most characters; none: no bound.")
    # Cards written before the field existed (the shipped models) were trained on stretched images.
    resize: Literal["stretch", "pad"] = Field("stretch", description="How an upload reaches width x height.")

    @property
    def longest(self) -> int:
        """The most characters to generate captchas of this model with: `max_length`, or
        `min_length` when the card sets no bound."""
        return self.max_length if self.max_length is not None else self.min_length
