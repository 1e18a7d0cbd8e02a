"""Mail test data: a program with a reseller rep in a chosen language, and the settings that send to a server."""

from __future__ import annotations

import dataclasses

from sqlalchemy import update

from incentives.accounts.models import User
from incentives.config import Settings
from incentives.db import Database
from tests.factories import Actor, ProgramWorld, make_program
from tests.leads.helpers import make_reseller


async def world_with_rep(db: Database, locale: str = "en") -> tuple[ProgramWorld, Actor]:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    async with db.transaction() as session:
        await session.execute(update(User).where(User.id == rep.user_id).values(locale=locale))
    return world, rep


def sending_to(settings: Settings, smtp_url: str | None) -> Settings:
    return dataclasses.replace(settings, smtp_url=smtp_url)
