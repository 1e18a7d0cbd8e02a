"""Lead test data through the real services."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from incentives.accounts import services as accounts
from incentives.accounts.roles import Role
from incentives.db import Database
from incentives.leads import services
from incentives.leads.models import Lead
from tests.factories import Actor, ProgramWorld, make_org, make_user

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
_seq = itertools.count(1)


async def make_reseller(
    db: Database,
    world: ProgramWorld,
    *,
    tier: str = "gold",
    regions: list[str] | None = None,
    certifications: list[str] | None = None,
    competencies: list[str] | None = None,
    capacity: int | None = 10,
    city: str | None = "München",
    lat: float | None = None,
    lon: float | None = None,
) -> Actor:
    """A reseller org in the program with one rep; returns the rep."""
    org_id = await make_org(db, world, "reseller", name=f"Fachhändler {next(_seq)}", city=city, lat=lat, lon=lon)
    async with db.transaction() as session:
        await accounts.create_membership(
            session,
            world.admin.principal,
            program_id=world.program_id,
            org_id=org_id,
            tier=tier,
            competencies=competencies if competencies is not None else ["heat_pumps"],
            certifications=certifications or [],
            regions=regions or ["DE-80"],
            capacity=capacity,
        )
    return await make_user(db, world, org_id, Role.RESELLER_REP)


async def make_lead(
    db: Database,
    world: ProgramWorld,
    *,
    temperature: str = "warm",
    postal_code: str = "80331",
    offer: bool = True,
    now: dt.datetime = T0,
    certifications: list[str] | None = None,
    value: Decimal | None = Decimal("12000"),
) -> Lead:
    n = next(_seq)
    data = services.LeadInput(
        program_id=world.program_id,
        company=f"Kunde {n} GmbH",
        contact_name="Eva Kunde",
        contact_email=f"eva{n}@kunde.example",
        country="DE",
        product_line="heat_pumps",
        temperature=temperature,
        postal_code=postal_code,
        city="München",
        estimated_value=value,
        required_certifications=certifications,
        notes="Ruft nur vormittags zurück.",
    )
    async with db.transaction() as session:
        lead = await services.create_lead(session, world.admin.principal, data, now)
    async with db.transaction() as session:
        lead = await services.qualify_lead(session, world.admin.principal, lead.id, now)
    if offer:
        async with db.transaction() as session:
            lead, _ = await services.offer_lead(session, world.admin.principal, lead.id, now)
    return lead
