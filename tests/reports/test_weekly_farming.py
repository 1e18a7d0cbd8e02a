"""The managers' weekly report lists the partners the farming score flagged in the week, in both languages."""

from __future__ import annotations

from incentives.db import Database
from incentives.reports.weekly import IsoWeek, Recipient, gather, recipients
from incentives.reports.weekly_mail import render
from incentives.rules import farming
from tests.rules.test_farming_flags import _histories

WEEK = IsoWeek(2026, 10)  # the histories happen on Monday 2 March 2026
BASE = "https://incentives.example"


async def test_a_flagged_partner_is_listed_and_an_unflagged_one_is_not(db: Database) -> None:
    world, farmer, honest = await _histories(db)
    async with db.reader() as session:
        found = {r.user_id: r for r in await recipients(session, world.program_id, WEEK)}
        admin = found[world.admin.user_id]
        report = await gather(db, session, world.program_id, admin, WEEK)
        following = await gather(db, session, world.program_id, admin, WEEK.following)
        reps = await gather(db, session, world.program_id, found[farmer.user_id], WEEK)
    assert [(p.org_id, p.flags) for p in report.farming] == [
        (farmer.org_id, [farming.NO_CONTACT_STEP, farming.STATUS_CHURN])
    ]
    assert following.farming == [] and reps.farming == []  # another week; a partner's own report has no such part
    names = {p.org_id: p.name for p in await _all(db, world.program_id)}
    for locale, heading, flag in (
        ("en", "Partners flagged for farming", "feedback without contact"),
        ("de", "Auffällige Partner (Punktejagd)", "Rückmeldung ohne Kontakt"),
    ):
        recipient = Recipient(**{**admin.__dict__, "locale": locale})
        async with db.reader() as session:
            _, text, html = render(await gather(db, session, world.program_id, recipient, WEEK), BASE)
        for part in (text, html):
            assert heading in part and flag in part
            assert names[farmer.org_id] in part and names[honest.org_id] not in part
        assert f"{BASE}/rules/farming" in html


async def test_a_week_without_flags_says_so(db: Database) -> None:
    world, _, _ = await _histories(db)
    async with db.reader() as session:
        found = {r.user_id: r for r in await recipients(session, world.program_id, WEEK.following)}
        report = await gather(db, session, world.program_id, found[world.admin.user_id], WEEK.following)
    _, text, html = render(report, BASE)
    assert "No partner was flagged this week." in text and "No partner was flagged this week." in html


async def _all(db: Database, program_id: int) -> list[farming.PartnerPattern]:
    async with db.reader() as session:
        return await farming.partner_patterns(session, program_id, WEEK.start, WEEK.end)
