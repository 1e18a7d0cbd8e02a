"""Test data through the real services: programs, orgs, memberships, users and their tokens."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from faker import Faker

from incentives.accounts import services
from incentives.accounts.models import User
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.db import Database

fake = Faker("de_DE")
_seq = itertools.count(1)
PASSWORD = "correct-horse-battery"


@dataclass
class Actor:
    user_id: int
    org_id: int
    email: str
    token: str
    principal: Principal

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class ProgramWorld:
    program_id: int
    admin: Actor


async def make_program(db: Database, name: str | None = None) -> ProgramWorld:
    n = next(_seq)
    email = f"admin{n}@example.com"
    async with db.transaction() as session:
        boot = await services.bootstrap_program(
            session, program=name or f"Programm {n} {fake.company()}", email=email, password=PASSWORD
        )
    async with db.reader() as session:
        user = await session.get_one(User, boot.user_id)
    return ProgramWorld(boot.program_id, Actor(user.id, user.org_id, email, boot.token, Principal.of(user)))


async def make_org(db: Database, world: ProgramWorld, kind: str = "reseller", **fields: object) -> int:
    async with db.transaction() as session:
        org = await services.create_org(
            session,
            world.admin.principal,
            name=str(fields.pop("name", fake.company())),
            kind=kind,
            country="DE",
            **fields,  # type: ignore[arg-type]
        )
    return org.id


async def make_member(
    db: Database, world: ProgramWorld, kind: str = "reseller", tier: str = "gold", distributor_id: int | None = None
) -> int:
    org_id = await make_org(db, world, kind)
    async with db.transaction() as session:
        await services.create_membership(
            session,
            world.admin.principal,
            program_id=world.program_id,
            org_id=org_id,
            tier=tier,
            competencies=["heat_pumps"],
            certifications=[],
            regions=["DE-80"],
            distributor_id=distributor_id,
        )
    return org_id


async def make_user(db: Database, world: ProgramWorld, org_id: int, role: Role, locale: str | None = None) -> Actor:
    email = f"user{next(_seq)}@example.com"
    async with db.transaction() as session:
        user = await services.create_user(
            session,
            world.admin.principal,
            email=email,
            name=fake.name(),
            org_id=org_id,
            role=role,
            locale=locale,
            password=PASSWORD,
        )
    async with db.transaction() as session:
        token = await services.create_token(session, world.admin.principal, user_id=user.id)
    return Actor(user.id, org_id, email, token, Principal(user.id, org_id, role, user.program_id))
