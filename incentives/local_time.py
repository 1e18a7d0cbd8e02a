"""The time zone the program's calendar periods (weeks, months, quarters) begin in: where its partners work."""

from __future__ import annotations

from zoneinfo import ZoneInfo

LOCAL = ZoneInfo("Europe/Berlin")
