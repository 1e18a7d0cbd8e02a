"""A rule's condition read back as the simple clauses people mean ("cold leads", "feedback within 24 hours",
"Gold partners"): for the partners' "how to earn points" page and for filling the editor's simple fields.

Only conditions made of known clauses joined by `&&` are read; anything else is an advanced rule (None).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

# One JSON/CEL string literal (the editor writes them with json.dumps).
_STRING = r'"(?:[^"\\]|\\.)*"'
_CLAUSES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("temperature", re.compile(r'lead\.temperature == "(cold|warm|hot)"')),
    ("within_hours", re.compile(r"feedback\.hours_since_reserved <= (\d+(?:\.\d+)?)")),
    ("tier", re.compile(r'partner\.tier == "(platinum|gold|silver|registered)"')),
    ("product_line", re.compile(rf"lead\.product_line == ({_STRING})")),
    ("first_feedback", re.compile(r"feedback\.is_first")),
    ("on_time", re.compile(r"feedback\.on_time")),
)
_AND = re.compile(r"\s*&&\s*")


@dataclass(frozen=True)
class Clause:
    kind: str  # temperature | within_hours | tier | product_line | first_feedback | on_time
    value: str | float | None = None


def clauses_of(condition: str) -> list[Clause] | None:
    """The condition's clauses in their order, [] for `true`, None when it says more than known clauses."""
    text = condition.strip()
    if text == "true":
        return []
    clauses: list[Clause] = []
    position = 0
    while position < len(text):
        for kind, pattern in _CLAUSES:
            match = pattern.match(text, position)
            if match:
                clauses.append(Clause(kind, _value(kind, match)))
                position = match.end()
                break
        else:
            return None
        joined = _AND.match(text, position)
        if joined:
            position = joined.end()
        elif position < len(text):
            return None
    return clauses


def _value(kind: str, match: re.Match[str]) -> str | float | None:
    if not match.groups():
        return None
    raw = match.group(1)
    if kind == "within_hours":
        return float(raw)
    if kind == "product_line":
        value = json.loads(raw)
        return value if isinstance(value, str) else None
    return raw


def clause(clauses: list[Clause], kind: str) -> Clause | None:
    return next((c for c in clauses if c.kind == kind), None)
