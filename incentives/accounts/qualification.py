"""A program's qualification checklist: what a partner manager confirms before a lead goes out (reachable
contact, need confirmed, budget known, ...). Kept on the program row like the levels; None there means these
defaults."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from incentives.accounts.models import Program
from incentives.errors import N_

MAX_ITEMS = 20
KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

DEFAULT_CHECKLIST: tuple[dict[str, Any], ...] = (
    {"key": "contact_reachable", "name": {"de": "Kontakt erreichbar", "en": "Contact reachable"}},
    {"key": "need_confirmed", "name": {"de": "Bedarf bestätigt", "en": "Need confirmed"}},
    {"key": "budget_known", "name": {"de": "Budget bekannt", "en": "Budget known"}},
    {"key": "decision_maker_known", "name": {"de": "Entscheider bekannt", "en": "Decision maker known"}},
    {"key": "timeline_known", "name": {"de": "Zeitplan bekannt", "en": "Timeline known"}},
)


def checklist_of(stored: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [dict(item) for item in (stored if stored is not None else DEFAULT_CHECKLIST)]


def check_checklist(items: Sequence[dict[str, Any]]) -> None:
    """Raise ValueError with a message id when the checklist cannot be used."""
    if len(items) > MAX_ITEMS:
        raise ValueError(N_("At most 20 checklist items."))
    keys = [item["key"] for item in items]
    if len(set(keys)) != len(keys):
        raise ValueError(N_("Checklist keys must be unique."))
    if not all(KEY.match(key) for key in keys):
        raise ValueError(N_("A checklist key is lower-case letters, digits and _."))


async def program_checklist(session: AsyncSession, program_id: int) -> list[dict[str, Any]]:
    """The checklist a program's managers confirm when they qualify a lead."""
    stored = await session.scalar(select(Program.qualification_checklist).where(Program.id == program_id))
    return checklist_of(stored)
