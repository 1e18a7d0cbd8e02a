"""Demo leads: about sixty enquiries in every state, with believable customers, places and timing."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from sqlalchemy import select

from incentives.accounts.models import User
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.db import Database, utcnow
from incentives.leads import services
from incentives.leads.errors import AlreadyReserved, FeedbackRequired

PLACES = [  # country, postal code, city, lat, lon
    ("DE", "80331", "München", 48.137, 11.575),
    ("DE", "81241", "München", 48.147, 11.46),
    ("DE", "86150", "Augsburg", 48.366, 10.894),
    ("DE", "93047", "Regensburg", 49.016, 12.097),
    ("DE", "10115", "Berlin", 52.532, 13.384),
    ("DE", "12043", "Berlin", 52.481, 13.434),
    ("DE", "20095", "Hamburg", 53.551, 10.0),
    ("DE", "22765", "Hamburg", 53.553, 9.93),
    ("DE", "50667", "Köln", 50.938, 6.957),
    ("DE", "60311", "Frankfurt am Main", 50.111, 8.682),
    ("DE", "70173", "Stuttgart", 48.778, 9.18),
    ("DE", "04109", "Leipzig", 51.34, 12.374),
    ("AT", "6020", "Innsbruck", 47.263, 11.394),
    ("AT", "1010", "Wien", 48.209, 16.372),
    ("CH", "8001", "Zürich", 47.371, 8.542),
]
COMPANIES = [
    "Bäckerei Sonnleitner",
    "Hotel Alpenblick",
    "Wohnbau Nord eG",
    "Autohaus Krämer",
    "Gasthof Zur Linde",
    "Schreinerei Vogt",
    "Praxis Dr. Albrecht",
    "Kita Regenbogen",
    "Biohof Lindner",
    "Metzgerei Huber",
    "Studio Lichtwerk",
    "Pension Seeblick",
    "Weingut Reiter",
    "Sporthalle Ost",
    "Kanzlei Brandl & Partner",
    "Café Mokka",
    "Tischlerei Berger",
    "Landhaus Maier",
    "Apotheke am Markt",
    "Blumen Kern",
]
INDUSTRIES = ["Gastronomie", "Handwerk", "Wohnungswirtschaft", "Einzelhandel", "Hotellerie", "Landwirtschaft"]
PRODUCTS = ["Wärmepumpen", "Wärmepumpen", "Wärmepumpen", "Photovoltaik", "Stromspeicher", "Lüftung"]
FIRST = ["Anna", "Lukas", "Marie", "Felix", "Sophie", "Jonas", "Lea", "Paul", "Emma", "Ben"]
LAST = ["Schneider", "Fischer", "Weber", "Wagner", "Becker", "Hoffmann", "Koch", "Richter", "Wolf", "Neumann"]
# How many leads end in which state (sixty in all).
PLAN = {"new": 5, "qualified": 5, "offered": 16, "reserved": 12, "overdue": 4, "won": 8, "lost": 6, "unclaimed": 4}


async def create_demo_leads(db: Database, program_id: int, admin: Principal) -> int:
    rng = random.Random(2026)  # noqa: S311 - demo data, the same every time, nothing secret
    now = utcnow()
    reps = await _reps(db)
    count = 0
    for state, how_many in PLAN.items():
        for _ in range(how_many):
            count += 1
            await _one(db, rng, program_id, admin, reps, state, now, count)
    return count


async def _reps(db: Database) -> dict[int, Principal]:
    async with db.reader() as session:
        users = (await session.scalars(select(User).where(User.role == Role.RESELLER_REP))).all()
    return {user.org_id: Principal.of(user) for user in users}


async def _one(
    db: Database,
    rng: random.Random,
    program_id: int,
    admin: Principal,
    reps: dict[int, Principal],
    state: str,
    now: dt.datetime,
    n: int,
) -> None:
    # Nobody serves Dresden: offering those leads finds no partner, so they are honestly unclaimed.
    country, postal, city, lat, lon = (
        ("DE", "01067", "Dresden", 51.05, 13.74) if state == "unclaimed" else rng.choice(PLACES)
    )
    first, last = rng.choice(FIRST), rng.choice(LAST)
    company = f"{rng.choice(COMPANIES)} {city}"
    start = (
        now - dt.timedelta(hours=rng.randint(70, 400))
        if state in ("won", "lost", "overdue")
        else now - dt.timedelta(hours=rng.randint(1, 10))
    )
    data = services.LeadInput(
        program_id=program_id,
        company=company,
        contact_name=f"{first} {last}",
        contact_email=f"{first.lower()}.{last.lower()}{n}@kunde.example",
        contact_phone=None,
        country=country,
        postal_code=postal,
        city=city,
        lat=lat,
        lon=lon,
        industry=rng.choice(INDUSTRIES),
        product_line=rng.choice(PRODUCTS),
        temperature=rng.choice(["hot", "warm", "warm", "cold", "cold"]),
        estimated_value=Decimal(rng.choice([4_800, 9_500, 14_000, 23_500, 38_000, 65_000, 120_000, 310_000])),
        required_certifications=["helios_certified_installer"] if rng.random() < 0.15 else [],
        notes=rng.choice(["Rückruf bitte vormittags.", "Altbau, Baujahr 1978.", "Interesse an Förderung.", None]),
        external_id=f"CRM-{10_000 + n}",
        source=rng.choice(["Website", "Messe", "Telefon", "Partnerportal"]),
    )
    async with db.transaction() as session:
        lead = await services.create_lead(session, admin, data, start)
    if state == "new":
        return
    async with db.transaction() as session:
        await services.qualify_lead(session, admin, lead.id, start)
    if state == "qualified":
        return
    async with db.transaction() as session:
        lead, offers = await services.offer_lead(session, admin, lead.id, start)
    if state in ("unclaimed", "offered") or not offers:
        return
    picker = next((reps[o.org_id] for o in offers if o.org_id in reps), None)
    if picker is None:
        return
    reserved_at = start + dt.timedelta(hours=rng.randint(1, 6))
    try:
        async with db.transaction() as session:
            await services.reserve_lead(session, picker, lead.id, reserved_at)
    except (AlreadyReserved, FeedbackRequired):
        return
    if state in ("reserved", "overdue"):
        return
    async with db.transaction() as session:
        await services.give_feedback(
            session, picker, lead.id, status="contacted", now=reserved_at + dt.timedelta(hours=20)
        )
    final = reserved_at + dt.timedelta(hours=rng.randint(30, 60))
    async with db.transaction() as session:
        if state == "won":
            await services.give_feedback(
                session,
                picker,
                lead.id,
                status="won",
                now=final,
                deal_value=Decimal(rng.choice([8_900, 16_400, 27_000, 54_000])),
            )
        else:
            await services.give_feedback(
                session,
                picker,
                lead.id,
                status="lost",
                now=final,
                lost_reason=rng.choice(["Preis zu hoch", "Projekt verschoben", "Mitbewerber"]),
            )
