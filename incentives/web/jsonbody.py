"""Reading a JSON request body safely: whatever a client sends is a 422 naming the field, never a 500.

Python's parser accepts what no column can hold: integers of thousands of digits (and raises a plain
ValueError past 4,300), NaN and Infinity, nesting deep enough to exhaust the stack, and text with NUL
characters (which PostgreSQL refuses). `load_json` refuses all of these before any model or database sees
them. Every integer column we have is at most 32 bits signed, and so is every bound our schemas declare.
"""

from __future__ import annotations

import json
import math
from typing import Any

from incentives.errors import N_, FieldError, ValidationFailed
from incentives.web.ids import int_in_range

MAX_DEPTH = 32
NOT_JSON = N_("The body is not valid JSON.")
# An integer longer than this cannot be in range; it is never converted (a huge one costs quadratic time).
MAX_INT_DIGITS = 12
INT_RANGE = {"min": -(2**31), "max": 2**31 - 1}


class _Unreadable(ValueError):
    """A number or constant our bodies never hold, raised from inside the parser."""


class _HugeInt:
    """An integer literal too long to convert; reported with its location after parsing."""


def _parse_int(text: str) -> int | _HugeInt:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        return _HugeInt()
    return int(text)


def _refuse_constant(name: str) -> Any:
    raise _Unreadable(name)


def load_json(raw: bytes) -> Any:
    """The parsed body, or ValidationFailed: invalid JSON, or each field out of range, too deep or with NUL."""
    try:
        data = json.loads(raw, parse_int=_parse_int, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise ValidationFailed([FieldError(("body",), NOT_JSON)], NOT_JSON) from exc
    errors = list(check_values(data))
    if errors:
        raise ValidationFailed(errors)
    return data


def check_values(data: Any) -> list[FieldError]:
    """What no column can take, by location; walks without recursion, no deeper than MAX_DEPTH."""
    errors: list[FieldError] = []
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), data)]
    while stack:
        loc, value = stack.pop()
        if len(loc) > MAX_DEPTH:
            errors.append(FieldError(loc[:MAX_DEPTH] or ("body",), N_("Nested too deeply.")))
            continue
        if isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    errors.append(FieldError((*loc, key.replace("\x00", "")), N_("Must not contain NUL characters.")))
                else:
                    stack.append(((*loc, key), item))
        elif isinstance(value, list):
            stack.extend(((*loc, index), item) for index, item in enumerate(value))
        elif isinstance(value, _HugeInt) or (
            isinstance(value, int) and not isinstance(value, bool) and not int_in_range(value)
        ):
            errors.append(FieldError(loc or ("body",), N_("Must be between %(min)s and %(max)s."), **INT_RANGE))
        elif isinstance(value, float) and not math.isfinite(value):
            errors.append(FieldError(loc or ("body",), N_("Must be a number.")))
        elif isinstance(value, str) and "\x00" in value:
            errors.append(FieldError(loc or ("body",), N_("Must not contain NUL characters.")))
    return sorted(errors, key=lambda error: [str(part) for part in error.loc])
