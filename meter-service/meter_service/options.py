"""The meter's request options: one pydantic model, `MeterOptions`.

It is the only definition: the service validates requests with it (a bad option is a 400
`bad_request` whose message names the option, `serving.options.parse_options`), the pipeline and
the evaluate command read its typed fields, and its JSON schema (`GET /v1/models`,
`options_schema`) is what the gateway documents and forwards by.

Options arrive as text (query, form fields, JSON), so each field's validator takes text first:
blank is the default, `wheels=auto` is None. Typed values (from Python callers) pass as they are.
Fields are declared in the order they are checked, so of several bad options the first one named
is the one earlier versions named.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, WithJsonSchema, field_validator

from meter_service import plausibility
from meter_service.odometer import MAX_WHEELS, MIN_WHEELS
from recognition_common.edge.intake import MAX_OPTION_LENGTH

MODES = ("auto", "photo", "window")
Mode = Literal["auto", "photo", "window"]

_TIME_SCHEMA = {"type": "string", "maxLength": MAX_OPTION_LENGTH}


class MeterOptions(BaseModel):
    """A meter request's options, checked and typed."""

    model_config = ConfigDict(frozen=True)

    mode: Mode = Field(
        "auto",
        description="meter only: `photo` finds the counter window in a photo of the meter, "
        "`window` takes an image already cropped to the row of wheels, `auto` decides",
    )
    wheels: Annotated[
        int | None,
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "integer", "minimum": MIN_WHEELS, "maximum": MAX_WHEELS},
                    {"type": "string", "enum": ["auto"]},
                ]
            }
        ),
    ] = Field(
        None,
        description="meter only: number of digit wheels in the counter window, 4 to 8; "
        "`auto` (the default) counts them",
        json_schema_extra={"default": "auto"},
    )
    previous_value: Annotated[float | None, WithJsonSchema({"type": "number"})] = Field(
        None,
        description="meter only: the last known reading; the answer's `plausibility` says whether "
        "the new one fits it (a meter never runs backwards)",
    )
    max_rate: Annotated[float | None, WithJsonSchema({"type": "number", "exclusiveMinimum": 0})] = Field(
        None,
        description="meter only: the most the meter can run per hour, in the reading's units; "
        "checked against previous_value and previous_time",
    )
    previous_time: Annotated[datetime | None, WithJsonSchema(_TIME_SCHEMA)] = Field(
        None,
        description="meter only: when previous_value was read: ISO 8601 (2026-03-01T08:30:00Z; "
        "UTC without an offset) or Unix epoch seconds; with max_rate, bounds how far the meter can "
        "have run since",
    )
    time: Annotated[datetime | None, WithJsonSchema(_TIME_SCHEMA)] = Field(
        None,
        description="meter only: when this photo was taken, in the formats of previous_time; default: now",
    )

    @property
    def wants_plausibility(self) -> bool:
        return self.previous_value is not None or self.previous_time is not None or self.max_rate is not None

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        mode = value.strip().lower() or "auto"
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {value!r}")
        return mode

    @field_validator("wheels", mode="before")
    @classmethod
    def _wheels(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip().lower()
        if not text or text == "auto":
            return None
        if not text.isdigit() or not MIN_WHEELS <= int(text) <= MAX_WHEELS:
            raise ValueError(
                f"wheels must be auto or a whole number from {MIN_WHEELS} to {MAX_WHEELS}; got {text!r}"
            )
        return int(text)

    @field_validator("previous_value", "max_rate", mode="before")
    @classmethod
    def _number(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise ValueError(f"{info.field_name} must be a number; got {text!r}")
        return number

    @field_validator("previous_value")
    @classmethod
    def _in_range(cls, value: float | None, info: ValidationInfo) -> float | None:
        wheels = info.data.get("wheels") or MAX_WHEELS
        if value is not None and not 0 <= value < 10**wheels:
            raise ValueError(f"previous_value must be from 0 to below 10^{wheels} (the counter's range)")
        return value

    @field_validator("max_rate")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError("max_rate must be a positive number of units per hour")
        return value

    @field_validator("previous_time", "time", mode="before")
    @classmethod
    def _time(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if not text:
            return None
        return plausibility.parse_time(text, info.field_name or "time")
