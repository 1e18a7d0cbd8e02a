"""The runtime pieces of compiled CEL: CEL's integer semantics, conversions, operators and methods."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from typing import Any

from lark import Token

from incentives.rules.variables import BOOL, DOUBLE, INT, LIST_STRING, STRING, TIMESTAMP

Env = Mapping[str, Any]
Fn = Callable[[Env], Any]
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def int_div(a: int, b: int) -> int:
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b >= 0) else -quotient


def int_checked(value: int) -> int:
    if not INT_MIN <= value <= INT_MAX:
        raise OverflowError("integer overflow")
    return value


def to_int(value: Any) -> int:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("cannot convert to int")
        return int_checked(int(value))
    return int_checked(int(value))


def to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def timestamp(value: Any) -> dt.datetime:
    moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def string_literal(token: Token) -> str:
    raw = str(token)
    is_raw = raw[0] in "rR"
    if is_raw:
        raw = raw[1:]
    quote = 3 if raw[:3] in ('"""', "'''") else 1
    body = raw[quote:-quote]
    if is_raw or "\\" not in body:
        return body
    escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\", "a": "\a", "b": "\b", "f": "\f"}
    out, i = [], 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body) and body[i + 1] in escapes:
            out.append(escapes[body[i + 1]])
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def lookup(env: Env, path: str) -> Any:
    """The value at a dotted path of nested mappings (`partner.streak.active_weeks`)."""
    value: Any = env
    for part in path.split("."):
        value = value[part]
    return value


def accessor(path: str, kind: str) -> Fn:
    first, second = path.split(".", 1)
    if "." in second:  # deeper than namespace.field: walk it
        deep: Fn = lambda env: lookup(env, path)  # noqa: E731
        if kind == TIMESTAMP:
            return lambda env: timestamp(deep(env))
        if kind == DOUBLE:
            return lambda env: float(deep(env))
        return deep
    if kind == TIMESTAMP:
        return lambda env: timestamp(env[first][second])
    if kind == DOUBLE:
        return lambda env: float(env[first][second])
    return lambda env: env[first][second]


COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "relation_lt": lambda a, b: a < b,
    "relation_le": lambda a, b: a <= b,
    "relation_gt": lambda a, b: a > b,
    "relation_ge": lambda a, b: a >= b,
}
OPERATORS = {
    "relation_lt": "<",
    "relation_le": "<=",
    "relation_gt": ">",
    "relation_ge": ">=",
    "relation_eq": "==",
    "relation_ne": "!=",
    "relation_in": "in",
    "addition_add": "+",
    "addition_sub": "-",
    "multiplication_mul": "*",
    "multiplication_div": "/",
    "multiplication_mod": "%",
}
METHODS: dict[tuple[str, str], tuple[tuple[str, ...], str, Callable[..., Any]]] = {
    (STRING, "contains"): ((STRING,), BOOL, lambda s, x: x in s),
    (STRING, "startsWith"): ((STRING,), BOOL, lambda s, x: s.startswith(x)),
    (STRING, "endsWith"): ((STRING,), BOOL, lambda s, x: s.endswith(x)),
    (STRING, "size"): ((), INT, len),
    (LIST_STRING, "size"): ((), INT, len),
    (TIMESTAMP, "getHours"): ((), INT, lambda t: t.hour),
    (TIMESTAMP, "getDayOfWeek"): ((), INT, lambda t: (t.weekday() + 1) % 7),  # CEL: Sunday is 0
    (TIMESTAMP, "getDayOfMonth"): ((), INT, lambda t: t.day - 1),  # CEL: zero-based
    (TIMESTAMP, "getMonth"): ((), INT, lambda t: t.month - 1),
    (TIMESTAMP, "getFullYear"): ((), INT, lambda t: t.year),
}
