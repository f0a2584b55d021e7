"""JSON bodies of recognition answers, which may hold numpy scalars and arrays."""

from __future__ import annotations

import json
from typing import Any

import numpy as np


def json_dumps(value: Any) -> str:
    """JSON text of a response body that may hold numpy scalars and arrays."""
    return json.dumps(value, default=_json_default)


def _json_default(value: Any) -> Any:
    """numpy scalars and arrays as plain JSON numbers and lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
