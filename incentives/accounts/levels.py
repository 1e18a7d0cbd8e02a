"""A program's levels: named thresholds of points earned over the last 12 months, shown as progress.

Levels are a program setting kept on the program row; they motivate and never change the contractual tier.
The first level starts at 0 points so every partner has one; thresholds rise strictly from level to level.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from incentives.errors import N_

MAX_LEVELS = 20
MAX_THRESHOLD = 1_000_000_000
KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class Level:
    key: str
    name_de: str
    name_en: str
    threshold: int

    def as_setting(self) -> dict[str, Any]:
        return {"key": self.key, "name": {"de": self.name_de, "en": self.name_en}, "threshold": self.threshold}


DEFAULT_LEVELS: tuple[Level, ...] = (
    Level("bronze", "Bronze", "Bronze", 0),
    Level("silver", "Silber", "Silver", 500),
    Level("gold", "Gold", "Gold", 2_000),
    Level("platinum", "Platin", "Platinum", 5_000),
)


def default_levels() -> list[dict[str, Any]]:
    """The levels a new program starts with, as the program row keeps them."""
    return [level.as_setting() for level in DEFAULT_LEVELS]


def check_levels(levels: Sequence[Level]) -> None:
    """Raise ValueError with a message id when the levels cannot be used as a ladder."""
    if not levels:
        raise ValueError(N_("At least one level is required."))
    keys = [level.key for level in levels]
    if len(set(keys)) != len(keys):
        raise ValueError(N_("Level keys must be unique."))
    if levels[0].threshold != 0:
        raise ValueError(N_("The first level must start at 0 points."))
    if any(later.threshold <= earlier.threshold for earlier, later in itertools.pairwise(levels)):
        raise ValueError(N_("Thresholds must rise from one level to the next."))


def parse_levels(setting: Any) -> list[Level]:
    """The levels of a program row's setting, lowest first; a missing or unusable setting gives the defaults."""
    try:
        levels = [
            Level(str(item["key"]), str(item["name"]["de"]), str(item["name"]["en"]), int(item["threshold"]))
            for item in setting or ()
        ]
        levels.sort(key=lambda level: level.threshold)
        check_levels(levels)
    except (KeyError, TypeError, ValueError):
        return list(DEFAULT_LEVELS)
    return levels
