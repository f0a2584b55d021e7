"""Which corrections can be right: a label is checked against its task and the model it corrects.

A digit answer is digits; a captcha answer uses the model's characters and lengths (from its
card in the backend's catalogue); a meter answer is the 4 to 8 digits a counter shows, as many
as its wheels when the sender says how many. Anything else is refused with 422 `invalid_label`
and the reason, before it can teach a model something wrong.
"""

from __future__ import annotations

import re
from typing import Any

from recognition_common.edge import errors
from recognition_common.edge.errors import ApiError

MAX_DIGITS = 16  # a row of handwritten digits
METER_WHEELS = (4, 8)
_OTHER_TASK = re.compile(r"[A-Za-z0-9]{1,64}")  # a task this module has no rule for


def _refuse(message: str) -> ApiError:
    return ApiError(422, errors.INVALID_LABEL, message)


def captcha_alphabet(card: dict[str, Any]) -> str:
    """The characters a captcha model reads: its card's charset, else its classes less the blank."""
    charset = card.get("charset")
    if isinstance(charset, str) and charset:
        return charset
    return "".join(c for c in card.get("classes", []) if isinstance(c, str) and len(c) == 1)


def check_label(
    task: str, text: str, card: dict[str, Any], wheels: str | None = None
) -> tuple[str, int | None]:
    """The label as stored and the meter's wheel count, or an ApiError saying why it can't be right."""
    text = text.strip()
    if not text:
        raise _refuse("text is empty: send the right answer as the field 'text'")
    if task == "digit":
        if not (text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS):
            raise _refuse(f"a digit answer is 1 to {MAX_DIGITS} digits 0-9, not {text[:40]!r}")
        return text, None
    if task == "captcha":
        alphabet = captcha_alphabet(card)
        low, high = int(card.get("min_length", 1)), int(card.get("max_length", 64))
        outside = sorted({c for c in text if c not in alphabet})
        if outside:
            raise _refuse(
                f"{text[:40]!r} has characters model {card.get('name')!r} does not read: "
                f"{''.join(outside)[:20]!r}; it reads {alphabet!r}"
            )
        if not low <= len(text) <= high:
            span = str(low) if low == high else f"{low} to {high}"
            raise _refuse(f"model {card.get('name')!r} reads {span} characters, not {len(text)}")
        return text, None
    if task == "meter":
        low, high = METER_WHEELS
        if not (text.isascii() and text.isdigit() and low <= len(text) <= high):
            raise _refuse(f"a meter reading is {low} to {high} digits (one per wheel), not {text[:40]!r}")
        if wheels is None or wheels == "auto":
            return text, None
        if not (wheels.isascii() and wheels.isdigit() and int(wheels) == len(text)):
            raise _refuse(f"wheels={wheels[:10]!r} but the reading {text!r} has {len(text)} digits")
        return text, int(wheels)
    if not _OTHER_TASK.fullmatch(text):
        raise _refuse("a label is 1 to 64 letters and digits")
    return text, None
