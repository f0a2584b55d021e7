"""The meter's options, one pydantic model: text in, typed values out, a 400 naming a bad one,
and the JSON schema the catalogue publishes for the gateway."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from meter_service.options import MeterOptions
from recognition_common.edge.errors import ApiError
from recognition_common.serving.options import option_names, options_schema, parse_options


def refused(given: dict[str, str]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        parse_options(MeterOptions, given)
    assert (caught.value.status, caught.value.code) == (400, "bad_request")
    return caught.value


def test_text_options_become_typed_values() -> None:
    options = parse_options(
        MeterOptions,
        {"mode": " Window ", "wheels": "6", "previous_value": "12.5", "max_rate": "3", "time": "0", "x": "1"},
    )
    assert options == MeterOptions(
        mode="window", wheels=6, previous_value=12.5, max_rate=3.0, time=datetime(1970, 1, 1, tzinfo=UTC)
    )
    assert options.wants_plausibility
    defaults = parse_options(MeterOptions, {"mode": "", "wheels": "auto", "previous_value": " "})
    assert defaults == MeterOptions() and defaults.wheels is None and not defaults.wants_plausibility


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"wheels": "3"}, "wheels must be auto or a whole number from 4 to 8; got '3'"),
        ({"wheels": "five"}, "wheels must be auto or a whole number from 4 to 8; got 'five'"),
        ({"mode": "zoom"}, "mode must be one of auto, photo, window; got 'zoom'"),
        ({"previous_value": "lots"}, "previous_value must be a number; got 'lots'"),
        ({"previous_value": "100000", "wheels": "5"}, "previous_value must be from 0 to below 10^5"),
        ({"max_rate": "0"}, "max_rate must be a positive number of units per hour"),
        ({"max_rate": "inf"}, "max_rate must be a number; got 'inf'"),
        ({"previous_time": "yesterday"}, "previous_time must be"),
        # Of several bad options, the first checked is named, as before: max_rate before the times.
        ({"time": "soon", "max_rate": "x", "previous_value": "-1"}, "previous_value must be from 0"),
        ({"time": "soon", "max_rate": "x"}, "max_rate must be a number"),
    ],
)
def test_a_bad_option_is_a_400_naming_it(given: dict[str, str], message: str) -> None:
    assert refused(given).message.startswith(message)


def test_the_schema_documents_every_option() -> None:
    schema = options_schema(MeterOptions)
    properties = schema["properties"]
    assert option_names(MeterOptions) == list(properties)
    assert set(properties) == {"mode", "wheels", "previous_value", "previous_time", "max_rate", "time"}
    assert (
        properties["mode"]["enum"] == ["auto", "photo", "window"] and properties["mode"]["default"] == "auto"
    )
    assert properties["wheels"]["anyOf"] == [
        {"type": "integer", "minimum": 4, "maximum": 8},
        {"type": "string", "enum": ["auto"]},
    ]
    assert properties["wheels"]["default"] == "auto"
    assert properties["previous_value"]["type"] == "number" and "default" not in properties["previous_value"]
    assert properties["max_rate"]["exclusiveMinimum"] == 0
    assert properties["time"] == {**properties["time"], "type": "string", "maxLength": 200}
    assert all(prop["description"].startswith("meter only: ") for prop in properties.values())
