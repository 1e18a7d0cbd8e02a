"""Row ids in URLs: only numbers a row id can be, so a larger one matches no route (404) instead of failing
in the database (PostgreSQL's `integer` ends at 2**31 - 1; SQLite's at 2**63 - 1, but one bound for both
keeps the API the same on either).

`{id:id}` in a route path uses the convertor registered here; importing `incentives.web` registers it.
`in_id_range` and `int_in_range` serve query parameters and JSON bodies with the same bound.
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

MAX_ID = 2**31 - 1


def digits_up_to(limit: int) -> str:
    """A regular expression matching exactly the decimal numbers 0..`limit` (leading zeros allowed)."""
    text = str(limit)
    options = [f"[0-9]{{1,{len(text) - 1}}}"] if len(text) > 1 else []
    for position, digit in enumerate(text):
        rest = len(text) - position - 1
        if int(digit) == 0:
            continue
        below = f"[0-{int(digit) - 1}]"
        options.append(text[:position] + below + (f"[0-9]{{{rest}}}" if rest else ""))
    options.append(text)
    return "0*(?:" + "|".join(options) + ")"


class IdConvertor(Convertor[int]):
    regex = digits_up_to(MAX_ID)

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


def int_in_range(value: int) -> bool:
    """Whether `value` fits every integer column we have (ids, counters, points: at most 32 bits signed)."""
    return -MAX_ID - 1 <= value <= MAX_ID


def register() -> None:
    register_url_convertor("id", IdConvertor())
