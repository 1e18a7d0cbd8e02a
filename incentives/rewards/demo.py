"""Demo data for the rewards area: a catalog, points for the resellers, and redemptions in every state."""

from __future__ import annotations

import contextlib
from decimal import Decimal

from sqlalchemy import select

from incentives.accounts.models import Membership, User
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.db import Database
from incentives.errors import DomainError
from incentives.ledger import services as ledger
from incentives.rewards import mdf, services

PNG_PROOF = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

CATALOG = [
    dict(
        kind="mdf",
        name_de="MDF-Budget 500 €",
        name_en="MDF budget €500",
        description_de="Zuschuss für Anzeigen, Messen oder Mailings.",
        description_en="Funds for ads, trade fairs or mailings.",
        points=2000,
        value=Decimal("500.00"),
    ),
    dict(
        kind="mdf",
        name_de="MDF-Budget 1.500 €",
        name_en="MDF budget €1,500",
        description_de="Für größere Marketingaktionen in Ihrer Region.",
        description_en="For larger marketing campaigns in your region.",
        points=5500,
        value=Decimal("1500.00"),
        limit_per_period=1,
        limit_period="quarter",
    ),
    dict(
        kind="discount",
        name_de="3 % Rabatt auf die nächste Bestellung",
        name_en="3% off your next order",
        description_de="Gutscheincode sofort nach dem Einlösen.",
        description_en="Coupon code right after redeeming.",
        points=800,
        percent=Decimal("3.00"),
        auto_approve_up_to=1000,
    ),
    dict(
        kind="discount",
        name_de="5 % Rabatt auf die nächste Bestellung",
        name_en="5% off your next order",
        points=1500,
        percent=Decimal("5.00"),
    ),
    dict(
        kind="bonus",
        name_de="Reisegutschein 250 €",
        name_en="Travel voucher €250",
        description_de="Für das ganze Team, begrenzte Stückzahl.",
        description_en="For the whole team, limited number.",
        points=1200,
        value=Decimal("250.00"),
        stock=20,
    ),
    dict(
        kind="bonus",
        name_de="Schulungstag Wärmepumpen-Service",
        name_en="Heat pump service training day",
        points=3000,
        value=Decimal("690.00"),
        stock=5,
    ),
]


async def rewards_demo(db: Database, program_id: int, admin: Principal) -> None:
    rewards = []
    for item in CATALOG:
        async with db.transaction() as session:
            rewards.append(await services.create_reward(session, admin, program_id=program_id, **item))
    async with db.reader() as session:
        members = list(
            await session.scalars(
                select(Membership.org_id).where(Membership.program_id == program_id).order_by(Membership.id)
            )
        )
        managers = {
            user.org_id: Principal.of(user)
            for user in await session.scalars(
                select(User).where(User.role == Role.RESELLER_MANAGER, User.org_id.in_(members))
            )
        }
        pam = await session.scalar(
            select(User).where(User.program_id == program_id, User.role == Role.PARTNER_MANAGER).order_by(User.id)
        )
    deciders = Principal.of(pam) if pam is not None else admin
    for index, org_id in enumerate(members):
        async with db.transaction() as session:
            await ledger.award_points(
                session, program_id=program_id, org_id=org_id, points=1500 + 900 * (index % 7), key=f"demo:{org_id}"
            )
    orgs = [org for org in members if org in managers]
    mdf_small, _mdf_large, discount_auto, discount, voucher, training = rewards

    async def redeem(org_id: int, reward_id: int, key: str) -> int | None:
        with contextlib.suppress(DomainError):
            made = await db.run(
                lambda session: services.redeem(
                    session, managers[org_id], reward_id=reward_id, request_key=f"demo:{key}"
                )
            )
            return made.id
        return None

    if len(orgs) < 4:
        return
    # fulfilled MDF budget with a claim waiting for a decision
    first = await redeem(orgs[0], mdf_small.id, "mdf")
    if first is not None:
        async with db.transaction() as session:
            await services.approve_redemption(session, deciders, first)
        async with db.reader() as session:
            allocation = (await mdf.list_allocations(session, managers[orgs[0]]))[0]
        async with db.transaction() as session:
            await mdf.file_claim(
                session,
                managers[orgs[0]],
                allocation_id=allocation.id,
                activity="Anzeige Lokalzeitung",
                amount="180.00",
                proof_name="anzeige.png",
                proof=PNG_PROOF,
            )
    await redeem(orgs[1], discount_auto.id, "auto")  # fulfilled at once with a coupon code
    await redeem(orgs[1], voucher.id, "pending-1")  # pending
    await redeem(orgs[2], discount.id, "pending-2")  # pending
    rejected = await redeem(orgs[2], voucher.id, "rejected")
    if rejected is not None:
        async with db.transaction() as session:
            await services.reject_redemption(session, deciders, rejected, reason="Bitte erst Schulung abschließen.")
    cancelled = await redeem(orgs[3], discount.id, "cancelled")
    if cancelled is not None:
        async with db.transaction() as session:
            await services.cancel_redemption(session, managers[orgs[3]], cancelled)
    bonus = await redeem(orgs[3], voucher.id, "bonus")
    if bonus is not None:
        async with db.transaction() as session:
            await services.approve_redemption(session, deciders, bonus)
    await redeem(orgs[0], training.id, "failed")  # not enough points left: failed, nothing held
