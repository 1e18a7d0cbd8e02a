"""A believable demo program: a heat-pump manufacturer, a distributor and a dozen resellers."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from incentives.accounts import services
from incentives.accounts.models import Program, User
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.db import Database, utcnow
from incentives.leads.demo import INDUSTRIES, PRODUCTS, create_demo_leads
from incentives.rewards.demo import rewards_demo

PROGRAM = "Helios Wärmepumpen Partnerprogramm"
PASSWORD = "demo-passwort-2026"  # noqa: S105 - printed for the demo users, never used outside the demo

# name, city, country, lat, lon, tier, regions, competencies, certifications, capacity, below the distributor
RESELLERS = [
    (
        "Klimatechnik Huber GmbH",
        "München",
        "DE",
        48.137,
        11.575,
        "platinum",
        ["DE-80", "DE-81", "DE-85"],
        ["Wärmepumpen", "Photovoltaik"],
        ["helios_certified_installer"],
        25,
        True,
    ),
    (
        "Bauer Haustechnik",
        "Augsburg",
        "DE",
        48.371,
        10.898,
        "gold",
        ["DE-86"],
        ["Wärmepumpen"],
        ["helios_certified_installer"],
        12,
        True,
    ),
    (
        "Energie Schmid KG",
        "Regensburg",
        "DE",
        49.013,
        12.101,
        "silver",
        ["DE-93"],
        ["Wärmepumpen", "Lüftung"],
        [],
        8,
        True,
    ),
    (
        "Wärme & Sonne Berlin",
        "Berlin",
        "DE",
        52.520,
        13.405,
        "gold",
        ["DE-10", "DE-12", "DE-13"],
        ["Wärmepumpen"],
        ["helios_certified_installer"],
        15,
        False,
    ),
    (
        "Nordhaus Energietechnik",
        "Hamburg",
        "DE",
        53.551,
        9.993,
        "platinum",
        ["DE-20", "DE-21", "DE-22"],
        ["Wärmepumpen", "Photovoltaik", "Stromspeicher"],
        ["helios_certified_installer", "helios_service_partner"],
        30,
        False,
    ),
    ("Rheinland Heizung", "Köln", "DE", 50.938, 6.960, "silver", ["DE-50", "DE-51"], ["Wärmepumpen"], [], 6, False),
    (
        "Main-Energie Service",
        "Frankfurt am Main",
        "DE",
        50.110,
        8.682,
        "gold",
        ["DE-60", "DE-61", "DE-63"],
        ["Wärmepumpen", "Lüftung"],
        ["helios_service_partner"],
        14,
        False,
    ),
    ("Schwaben Wärme", "Stuttgart", "DE", 48.776, 9.183, "registered", ["DE-70"], ["Wärmepumpen"], [], 4, True),
    (
        "Sachsen Solar & Wärme",
        "Leipzig",
        "DE",
        51.340,
        12.375,
        "silver",
        ["DE-04"],
        ["Photovoltaik", "Wärmepumpen"],
        [],
        7,
        False,
    ),
    (
        "Alpen Haustechnik",
        "Innsbruck",
        "AT",
        47.269,
        11.404,
        "gold",
        ["AT-60", "AT-61"],
        ["Wärmepumpen"],
        ["helios_certified_installer"],
        10,
        False,
    ),
    (
        "Wien Energie Partner",
        "Wien",
        "AT",
        48.208,
        16.373,
        "registered",
        ["AT-10", "AT-11"],
        ["Wärmepumpen"],
        [],
        5,
        False,
    ),
    (
        "Zürich Wärmesysteme",
        "Zürich",
        "CH",
        47.377,
        8.541,
        "silver",
        ["CH-80"],
        ["Wärmepumpen", "Stromspeicher"],
        [],
        6,
        False,
    ),
]


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    org: str
    locale: str


async def create_demo(db: Database) -> list[DemoLogin]:
    """Create the demo program once; later runs only list its logins."""
    async with db.reader() as session:
        exists = await session.scalar(select(Program.id).where(Program.name == PROGRAM))
    if exists is None:
        await _create(db)
    return await _logins(db)


async def _create(db: Database) -> None:
    async with db.transaction() as session:
        boot = await services.bootstrap_program(
            session,
            program=PROGRAM,
            manufacturer="Helios Wärmepumpen GmbH",
            email="admin@helios.example",
            name="Sabine Keller",
            password=PASSWORD,
        )
    async with db.reader() as session:
        admin = Principal.of(await session.get_one(User, boot.user_id))
    async with db.transaction() as session:
        # The program's own lists: the lead form offers them, and leads with other values are refused.
        choices = {"product_lines": sorted(set(PRODUCTS)), "industries": sorted(INDUSTRIES)}
        await services.update_program_settings(session, admin, boot.program_id, {"default_locale": "de", **choices})

    async def user(email: str, name: str, org_id: int, role: Role, locale: str) -> None:
        async with db.transaction() as session:
            await services.create_user(
                session, admin, email=email, name=name, org_id=org_id, role=role, locale=locale, password=PASSWORD
            )

    async with db.reader() as session:
        manufacturer_id = (await services.get_program(session, admin, boot.program_id)).manufacturer_id
    assert manufacturer_id is not None
    await user("pam@helios.example", "Thomas Brandt", manufacturer_id, Role.PARTNER_MANAGER, "de")
    await user("pam.en@helios.example", "Emma Clarke", manufacturer_id, Role.PARTNER_MANAGER, "en")

    async with db.transaction() as session:
        agency = await services.create_org(
            session, admin, name="LeadWerk Agentur", kind="agency", country="DE", city="Nürnberg"
        )
    await user("agentur@leadwerk.example", "Jonas Weber", agency.id, Role.AGENCY, "de")

    async with db.transaction() as session:
        distributor = await services.create_org(
            session,
            admin,
            name="Elektro-Großhandel Süd",
            kind="distributor",
            country="DE",
            city="München",
            lat=48.14,
            lon=11.58,
        )
    async with db.transaction() as session:
        await services.create_membership(
            session,
            admin,
            program_id=boot.program_id,
            org_id=distributor.id,
            tier="gold",
            competencies=["distribution"],
            certifications=[],
            regions=["DE-8", "DE-9"],
            capacity=None,
        )
    await user("distributor@egs.example", "Martina Fuchs", distributor.id, Role.DISTRIBUTOR_MANAGER, "de")

    for index, (name, city, country, lat, lon, tier, regions, comps, certs, capacity, below) in enumerate(RESELLERS):
        async with db.transaction() as session:
            org = await services.create_org(
                session, admin, name=name, kind="reseller", country=country, city=city, lat=lat, lon=lon
            )
        async with db.transaction() as session:
            await services.create_membership(
                session,
                admin,
                program_id=boot.program_id,
                org_id=org.id,
                tier=tier,
                competencies=comps,
                certifications=certs,
                regions=regions,
                capacity=capacity,
                distributor_id=distributor.id if below else None,
            )
        slug = f"reseller{index + 1:02d}"
        english = index % 4 == 3  # every fourth reseller's people read English
        locale = "en" if english else "de"
        await user(f"manager@{slug}.example", f"Leitung {name}", org.id, Role.RESELLER_MANAGER, locale)
        await user(f"rep@{slug}.example", f"Vertrieb {name}", org.id, Role.RESELLER_REP, locale)

    await rewards_demo(db, boot.program_id, admin)
    await create_demo_leads(db, boot.program_id, admin)
    # The default rules and achievements, then the demo's lead events turned into points and badges.
    from incentives.engagement.defaults import install_default_achievements
    from incentives.engagement.jobs import process_outbox
    from incentives.leaderboard.jobs import rebuild
    from incentives.leads import streaks
    from incentives.rules.defaults import install_default_rules
    from incentives.rules.leaderboard_feed import earned_with_credit

    async with db.transaction() as session:
        await install_default_rules(session, boot.program_id)
        await install_default_achievements(session, boot.program_id)
        # The demo's leads were played out of order in time: their streaks are recomputed from the lead events.
        await streaks.rebuild(session, boot.program_id, utcnow())
    await process_outbox(db)
    # The rewards demo's starting points were booked straight on the ledger: count them on the boards too.
    await rebuild(db, earned_with_credit, boot.program_id)


async def _logins(db: Database) -> list[DemoLogin]:
    from incentives.accounts.models import Org

    async with db.reader() as session:
        program_id = await session.scalar(select(Program.id).where(Program.name == PROGRAM))
        rows = await session.execute(
            select(User.role, User.email, Org.name, User.locale)
            .join(Org, Org.id == User.org_id)
            .where(User.email.like("%.example"))
            .order_by(User.id)
        )
        logins = [DemoLogin(role, email, org, locale or "auto") for role, email, org, locale in rows.all()]
    assert program_id is not None
    # One login per role and language is enough to show; the rest follow the same pattern.
    seen: set[tuple[str, str]] = set()
    shown = []
    for login in logins:
        if (login.role, login.locale) not in seen:
            seen.add((login.role, login.locale))
            shown.append(login)
    return shown
