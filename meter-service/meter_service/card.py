"""The meter model's card: the wheel reader's, which must list its `locator` component.

Typed here so a meter model without its locator is refused when it loads (and `/readyz` or the
reload says why), not by a KeyError on the first photo.
"""

from __future__ import annotations

from pydantic import field_validator

from recognition_common.serving.model_card import ModelCard

LOCATOR = "locator"  # the component's sub-directory and name in the card's `components`


class MeterCard(ModelCard):
    @field_validator("components")
    @classmethod
    def _has_locator(cls, components: list[str]) -> list[str]:
        if LOCATOR not in components:
            raise ValueError(f"a meter model lists its {LOCATOR!r} component; got {components}")
        return components
