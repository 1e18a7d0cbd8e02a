"""The lead lifecycle through the services: waves, escalation, reservation, feedback, gate, return."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from incentives.accounts import services as accounts
from incentives.db import Database
from incentives.errors import InvalidState, NotFound, ValidationFailed
from incentives.leads import events, services
from incentives.leads.errors import AlreadyReserved, FeedbackRequired
from incentives.leads.jobs import _older_objects_left_alone, escalate_offers, notice_overdue_feedback
from incentives.leads.models import Lead, LeadEvent, LeadOffer, LeadStatus, OutboxEvent
from incentives.leads.waves import EVENTS, insert_rows
from incentives.notifications.models import Notification
from tests.factories import make_program
from tests.leads.helpers import T0, make_lead, make_reseller

H = dt.timedelta(hours=1)


async def _offered_orgs(db: Database, lead_id: int, wave: int | None = None) -> set[int]:
    async with db.reader() as session:
        query = select(LeadOffer.org_id).where(LeadOffer.lead_id == lead_id)
        if wave is not None:
            query = query.where(LeadOffer.wave == wave)
        return set((await session.scalars(query)).all())


async def _lead(db: Database, lead_id: int) -> Lead:
    async with db.reader() as session:
        return await session.get_one(Lead, lead_id)


async def test_waves_escalate_to_all_eligible_then_unclaimed(db: Database) -> None:
    world = await make_program(db)
    async with db.transaction() as session:
        await accounts.update_program_settings(
            session, world.admin.principal, world.program_id, {"offer_wave_size": 2, "max_waves": 2}
        )
    reps = [await make_reseller(db, world, tier=tier) for tier in ("platinum", "gold", "silver", "registered", "gold")]
    outsider = await make_reseller(db, world, regions=["DE-10"])  # serves Berlin, not Munich
    lead = await make_lead(db, world)
    first = await _offered_orgs(db, lead.id, wave=1)
    assert len(first) == 2 and reps[0].org_id in first  # the platinum partner ranks first

    assert await escalate_offers(db, T0 + 11 * H) == 0  # not due yet
    assert await escalate_offers(db, T0 + 12 * H) == 1
    assert await escalate_offers(db, T0 + 12 * H) == 0  # a doubled run finds nothing
    second = await _offered_orgs(db, lead.id, wave=2)
    assert len(second) == 2 and not second & first
    await escalate_offers(db, T0 + 24 * H)  # the last wave: every eligible partner left
    third = await _offered_orgs(db, lead.id, wave=3)
    assert third == {r.org_id for r in reps} - first - second
    assert outsider.org_id not in await _offered_orgs(db, lead.id)
    await escalate_offers(db, T0 + 36 * H)
    assert (await _lead(db, lead.id)).status == LeadStatus.UNCLAIMED


async def test_concurrent_sweeps_escalate_each_lead_once(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    world = await make_program(db)
    async with db.transaction() as session:
        await accounts.update_program_settings(
            session, world.admin.principal, world.program_id, {"offer_wave_size": 2, "max_waves": 2}
        )
    for _ in range(5):
        await make_reseller(db, world)
    leads = [await make_lead(db, world) for _ in range(7)]
    monkeypatch.setattr("incentives.leads.jobs.BATCH", 2)  # several batches, so the sweeps interleave
    frozen = gc.get_freeze_count()

    moved = await asyncio.gather(*[escalate_offers(db, T0 + 12 * H) for _ in range(3)])

    assert sum(moved) == len(leads)
    assert gc.get_freeze_count() == frozen  # the sweeps' collector pause is undone, however they interleaved
    async with db.reader() as session:
        escalated = (
            await session.execute(
                select(LeadEvent.lead_id, func.count()).where(LeadEvent.kind == "escalated").group_by(LeadEvent.lead_id)
            )
        ).all()
        waves = (await session.execute(select(Lead.wave, Lead.status, Lead.expires_at))).all()
        offers = (await session.execute(select(LeadOffer.wave, func.count()).group_by(LeadOffer.wave))).all()
    assert sorted(escalated) == sorted((lead.id, 1) for lead in leads)
    assert set(waves) == {(2, LeadStatus.OFFERED, T0 + 24 * H)}
    assert sorted(offers) == [(1, 2 * len(leads)), (2, 2 * len(leads))]


def test_the_sweeps_collector_pause_ends_on_errors_and_leaves_other_freezes_alone() -> None:
    gc.unfreeze()  # whatever an earlier test's app left (none should)
    with pytest.raises(RuntimeError), _older_objects_left_alone():
        assert gc.get_freeze_count() > 0
        raise RuntimeError("a failing batch")
    assert gc.get_freeze_count() == 0
    gc.freeze()  # as a server might before forking its workers
    try:
        frozen = gc.get_freeze_count()
        with _older_objects_left_alone():
            pass
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


async def test_bulk_rows_keep_nulls_json_and_times(db: Database) -> None:
    """The sweep's bulk insert (one unnest statement on PostgreSQL, executemany on SQLite) stores what it is given."""
    world = await make_program(db)
    rep = await make_reseller(db, world)
    lead = await make_lead(db, world)
    nested = {"list": [1, 2.5, None, True], "text": "Größe ß", "inner": {"k": {}}}
    rows = [
        events.row(lead, "note_a", T0, nested=nested),
        events.row(lead, "note_b", T0 + H, org_id=rep.org_id, actor_id=rep.user_id, count=3),
    ]
    async with db.transaction() as session:
        await insert_rows(session, EVENTS, rows)
        await insert_rows(session, EVENTS, [])
    async with db.reader() as session:
        stored = (
            await session.execute(
                select(
                    LeadEvent.lead_id,
                    LeadEvent.kind,
                    LeadEvent.org_id,
                    LeadEvent.actor_id,
                    LeadEvent.at,
                    LeadEvent.data,
                )
                .where(LeadEvent.kind.in_(["note_a", "note_b"]))
                .order_by(LeadEvent.id)
            )
        ).all()
    assert [tuple(row) for row in stored] == [
        (lead.id, "note_a", None, None, T0, {"nested": nested}),
        (lead.id, "note_b", rep.org_id, rep.user_id, T0 + H, {"count": 3}),
    ]


async def test_hard_filters_and_explainable_scores(db: Database) -> None:
    world = await make_program(db)
    certified = await make_reseller(db, world, certifications=["installer"], tier="silver")
    await make_reseller(db, world, tier="platinum")  # not certified
    await make_reseller(db, world, regions=["AT"], certifications=["installer"])  # wrong country
    lead = await make_lead(db, world, certifications=["installer"])
    async with db.reader() as session:
        offers = (await session.scalars(select(LeadOffer).where(LeadOffer.lead_id == lead.id))).all()
    assert [o.org_id for o in offers] == [certified.org_id]
    assert set(offers[0].breakdown) == {"competence", "tier", "conversion", "proximity", "capacity", "fairness"}
    assert offers[0].breakdown["tier"] == {"value": 0.5, "weight": 2.0}


async def test_concurrent_reservations_have_exactly_one_winner(db: Database) -> None:
    world = await make_program(db)
    async with db.transaction() as session:
        await accounts.update_program_settings(session, world.admin.principal, world.program_id, {"offer_wave_size": 8})
    reps = [await make_reseller(db, world) for _ in range(8)]
    lead = await make_lead(db, world)

    async def reserve(rep_index: int) -> str:
        try:
            async with db.transaction() as session:
                await services.reserve_lead(session, reps[rep_index].principal, lead.id, T0 + H)
            return "won"
        except AlreadyReserved:
            return "lost"

    results = await asyncio.gather(*[reserve(i % 8) for i in range(24)])
    assert results.count("won") == 1
    async with db.reader() as session:
        events = await session.scalar(select(func.count()).where(OutboxEvent.event_type == "lead.reserved"))
    assert events == 1


async def test_feedback_cycle_gate_and_outbox(db: Database) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    first = await make_lead(db, world)
    second = await make_lead(db, world)
    async with db.transaction() as session:
        await services.reserve_lead(session, rep.principal, first.id, T0 + H)
    # 48 hours later the first lead's feedback is overdue: the gate closes (max_overdue_leads = 0).
    later = T0 + 50 * H
    with pytest.raises(FeedbackRequired) as gate:
        async with db.transaction() as session:
            await services.reserve_lead(session, rep.principal, second.id, later)
    assert gate.value.extra == {"overdue": [first.id]}
    assert await notice_overdue_feedback(db, later) == 1
    assert await notice_overdue_feedback(db, later) == 0
    async with db.reader() as session:
        kinds = (await session.scalars(select(Notification.kind).where(Notification.org_id == rep.org_id))).all()
    assert sorted(kinds) == ["feedback_overdue", "lead_offered", "lead_offered"]  # two offers, one overdue notice
    async with db.transaction() as session:
        lead = await services.give_feedback(session, rep.principal, first.id, status="contacted", now=later)
    assert lead.feedback_due_at == later + 48 * H  # due again after a non-final status
    async with db.transaction() as session:  # the gate opens at once
        await services.reserve_lead(session, rep.principal, second.id, later)
    with pytest.raises(ValidationFailed):
        async with db.transaction() as session:
            await services.give_feedback(session, rep.principal, first.id, status="won", now=later)
    async with db.transaction() as session:
        await services.give_feedback(
            session, rep.principal, first.id, status="won", deal_value=Decimal("18500"), now=later + H
        )
    with pytest.raises(InvalidState):
        async with db.transaction() as session:
            await services.give_feedback(
                session, rep.principal, first.id, status="lost", lost_reason="x", now=later + 2 * H
            )
    async with db.reader() as session:
        kinds = (
            await session.scalars(
                select(OutboxEvent.event_type).where(OutboxEvent.lead_id == first.id).order_by(OutboxEvent.id)
            )
        ).all()
        payload = (await session.scalars(select(OutboxEvent.payload).where(OutboxEvent.event_type == "lead.won"))).one()
        trail = (
            await session.scalars(select(LeadEvent.kind).where(LeadEvent.lead_id == first.id).order_by(LeadEvent.id))
        ).all()
    assert kinds == ["lead.reserved", "lead.feedback", "lead.feedback", "lead.won"]
    assert payload["deal"] == {"value": 18500.0, "days_since_reserved": 2.08}
    assert payload["partner"]["tier"] == "gold" and payload["lead"]["temperature"] == "warm"
    assert trail == ["created", "qualified", "offered", "reserved", "feedback_overdue", "feedback", "feedback"]


async def test_return_reoffers_without_the_returning_org(db: Database) -> None:
    world = await make_program(db)
    a = await make_reseller(db, world, tier="platinum")
    b = await make_reseller(db, world)
    lead = await make_lead(db, world)
    async with db.transaction() as session:
        await services.reserve_lead(session, a.principal, lead.id, T0 + H)
    with pytest.raises(NotFound):  # someone else's lead
        async with db.transaction() as session:
            await services.give_feedback(session, b.principal, lead.id, status="contacted", now=T0 + H)
    async with db.transaction() as session:
        returned = await services.return_lead(session, a.principal, lead.id, "Kein Bedarf beim Kunden", T0 + 2 * H)
    assert returned.status == LeadStatus.OFFERED and returned.reserved_by_org_id is None
    with pytest.raises(NotFound):  # never again to the org that returned it
        async with db.transaction() as session:
            await services.reserve_lead(session, a.principal, lead.id, T0 + 3 * H)
    async with db.transaction() as session:
        won = await services.reserve_lead(session, b.principal, lead.id, T0 + 3 * H)
    assert won.reserved_by_org_id == b.org_id


async def test_not_offered_means_not_found_and_twice_means_conflict(db: Database) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    far = await make_reseller(db, world, regions=["DE-20"])
    lead = await make_lead(db, world)
    with pytest.raises(NotFound):
        async with db.transaction() as session:
            await services.reserve_lead(session, far.principal, lead.id, T0 + H)
    async with db.transaction() as session:
        await services.reserve_lead(session, rep.principal, lead.id, T0 + H)
    with pytest.raises(AlreadyReserved):
        async with db.transaction() as session:
            await services.reserve_lead(session, rep.principal, lead.id, T0 + H)


async def test_manager_reoffers_an_unclaimed_lead(db: Database) -> None:
    world = await make_program(db)
    lead = await make_lead(db, world)  # nobody matches yet
    assert (await _lead(db, lead.id)).status == LeadStatus.UNCLAIMED
    async with db.reader() as session:  # the partner managers learn it at once
        notice = (await session.scalars(select(Notification).where(Notification.kind == "lead_unclaimed"))).one()
    assert notice.org_id == world.admin.org_id and notice.link == f"/leads/{lead.id}"
    rep = await make_reseller(db, world)
    async with db.transaction() as session:
        again = await services.reoffer_lead(session, world.admin.principal, lead.id, "Neuer Partner", T0 + H)
    assert again.status == LeadStatus.OFFERED and again.wave == 1
    assert await _offered_orgs(db, lead.id) == {rep.org_id}


async def test_membership_counters_equal_the_leads_they_count(db: Database) -> None:
    """The matching counters are a cache of the leads table: after any mix of transitions they agree."""
    from incentives.accounts.models import Membership

    world = await make_program(db)
    a = await make_reseller(db, world, tier="platinum")
    b = await make_reseller(db, world)
    leads = [await make_lead(db, world) for _ in range(5)]
    async with db.transaction() as session:
        await services.reserve_lead(session, a.principal, leads[0].id, T0 + H)
    async with db.transaction() as session:
        await services.give_feedback(
            session, a.principal, leads[0].id, status="won", deal_value=Decimal(5), now=T0 + 2 * H
        )
    async with db.transaction() as session:
        await services.reserve_lead(session, a.principal, leads[1].id, T0 + H)
    async with db.transaction() as session:
        await services.give_feedback(
            session, a.principal, leads[1].id, status="lost", lost_reason="Preis", now=T0 + 2 * H
        )
    async with db.transaction() as session:
        await services.reserve_lead(session, b.principal, leads[2].id, T0 + H)
    async with db.transaction() as session:
        await services.return_lead(session, b.principal, leads[2].id, "passt nicht", T0 + 2 * H)
    async with db.transaction() as session:
        await services.reserve_lead(session, a.principal, leads[2].id, T0 + 3 * H)
    async with db.transaction() as session:
        await services.reserve_lead(session, b.principal, leads[3].id, T0 + 3 * H)
    async with db.transaction() as session:
        await services.reoffer_lead(
            session, world.admin.principal, leads[3].id, "Kunde wünscht anderen Partner", T0 + 4 * H
        )
    async with db.reader() as session:
        for org in (a.org_id, b.org_id):
            membership = (await session.scalars(select(Membership).where(Membership.org_id == org))).one()
            statuses = (await session.scalars(select(Lead.status).where(Lead.reserved_by_org_id == org))).all()
            assert membership.open_leads == statuses.count(LeadStatus.RESERVED), org
            assert membership.won_leads == statuses.count(LeadStatus.WON), org
            assert membership.closed_leads == statuses.count(LeadStatus.WON) + statuses.count(LeadStatus.LOST), org
            assert membership.last_offered_at is not None


async def test_cached_partner_profiles_follow_new_memberships_and_fresh_counters(db: Database) -> None:
    from incentives.leads import matching

    world = await make_program(db)
    first = await make_reseller(db, world)
    async with db.reader() as session:
        assert [p.org_id for p in await matching.load_partners(session, world.program_id)] == [first.org_id]
    second = await make_reseller(db, world)
    lead = await make_lead(db, world)
    async with db.transaction() as session:
        await services.reserve_lead(session, second.principal, lead.id, T0 + H)
    async with db.reader() as session:
        partners = {p.org_id: p for p in await matching.load_partners(session, world.program_id)}
    assert set(partners) == {first.org_id, second.org_id}
    assert partners[second.org_id].open_leads == 1 and partners[first.org_id].open_leads == 0
