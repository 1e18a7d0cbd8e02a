"""CSV cells that a spreadsheet shows as text, never runs: a text starting with `=`, `+`, `-`, `@`, a tab or a
carriage return would be read as a formula (CSV injection), so it gets a leading apostrophe, as OWASP advises.
Numbers, and texts that are plain numbers (a negative change, say), stay as they are."""

from __future__ import annotations

import re
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value
