"""Which corrections can be right: a label is checked against its task and the model it corrects.

The gateway knows no task's labels itself. A task's `LabelRule` (configuration, `GATEWAY_LABEL_RULES`)
gives a pattern the label must match and, optionally, a field in which the sender states the
label's length; without a rule, the model's card says it when it can (the characters it reads,
`charset` or its `classes`, and `min_length`/`max_length`); otherwise a label is 1 to 64 ASCII letters
and numerals. Anything else is refused with 422 `invalid_label` and the reason, before it can teach
a model something wrong.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.config import LabelRule
from recognition_common.edge import errors
from recognition_common.edge.errors import ApiError

_ANY_LABEL = re.compile(r"[A-Za-z0-9]{1,64}")  # a task with no rule and no alphabet on its card


def _refuse(message: str) -> ApiError:
    return ApiError(422, errors.INVALID_LABEL, message)


def card_alphabet(card: dict[str, Any]) -> str:
    """The characters a model reads: its card's charset, else its one-character classes (a CTC
    model's blank class is not one)."""
    charset = card.get("charset")
    if isinstance(charset, str) and charset:
        return charset
    return "".join(c for c in card.get("classes", []) if isinstance(c, str) and len(c) == 1)


def _reads_sequences(card: dict[str, Any]) -> bool:
    """Whether the card describes what its model reads: an alphabet and lengths."""
    return bool(card_alphabet(card)) and ("min_length" in card or "max_length" in card)


def check_label(
    rule: LabelRule | None, text: str, card: dict[str, Any], stated_length: str | None = None
) -> tuple[str, int | None]:
    """The label as stored and the length its sender stated (when the rule asks for one), or an
    ApiError saying why it can't be right."""
    text = text.strip()
    if not text:
        raise _refuse("text is empty: send the right answer as the field 'text'")
    if rule is not None:
        return _check_rule(rule, text, stated_length)
    if _reads_sequences(card):
        _check_card(card, text)
        return text, None
    if not _ANY_LABEL.fullmatch(text):
        raise _refuse("a label is 1 to 64 ASCII letters and numerals 0-9")
    return text, None


def _check_rule(rule: LabelRule, text: str, stated_length: str | None) -> tuple[str, int | None]:
    if not re.fullmatch(rule.pattern, text):
        raise _refuse(f"{rule.describe}, not {text[:40]!r}")
    if rule.length_field is None or stated_length is None or stated_length == "auto":
        return text, None
    if not (stated_length.isascii() and stated_length.isdecimal() and int(stated_length) == len(text)):
        raise _refuse(
            f"{rule.length_field}={stated_length[:10]!r} but the label {text!r} has {len(text)} characters"
        )
    return text, int(stated_length)


def _check_card(card: dict[str, Any], text: str) -> None:
    alphabet = card_alphabet(card)
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
