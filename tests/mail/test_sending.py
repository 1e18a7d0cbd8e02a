"""E-mails through a real SMTP server on loopback: every kind in both languages, once per key, retried when the
server is down, the daily digest once per day, and reminders from the leads' sweep."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from incentives.config import Settings
from incentives.db import Database, utcnow
from incentives.leads import jobs as lead_jobs
from incentives.leads import services as leads
from incentives.mail import jobs, outbox, preferences
from incentives.mail.models import MailStatus, OutboxMail
from tests.leads.helpers import make_lead
from tests.mail.helpers import sending_to, world_with_rep
from tests.mail.smtp_server import SmtpServer, parts

SUBJECTS = {
    "en": {
        "new_lead": "New lead on your pick list",
        "feedback_due": "is due soon",
        "feedback_overdue": "is overdue",
        "redemption_decided": "was approved",
        "achievement_earned": "You earned the badge",
        "new_leads_digest": "new lead",
    },
    "de": {
        "new_lead": "Neuer Lead auf Ihrer Pickliste",
        "feedback_due": "ist bald fällig",
        "feedback_overdue": "ist überfällig",
        "redemption_decided": "wurde genehmigt",
        "achievement_earned": "Sie haben das Abzeichen",
        "new_leads_digest": "neuer Lead",
    },
}


async def _queue_each_kind(db: Database, user_id: int, lead_id: int) -> None:
    due = (utcnow() + dt.timedelta(hours=3)).isoformat()
    lead = {"id": lead_id, "company": "Kunde GmbH", "feedback_due_at": due}
    teaser = {
        "id": lead_id,
        "temperature": "hot",
        "product_line": "heat_pumps",
        "industry": None,
        "country": "DE",
        "postal_prefix": "80",
        "expires_at": due,
    }
    async with db.transaction() as session:
        for kind, context in [
            ("feedback_due", {"lead": lead}),
            ("feedback_overdue", {"lead": lead}),
            (
                "redemption_decided",
                {"approved": True, "reward": {"de": "Gutschein", "en": "Voucher"}, "points": 1500, "reason": None},
            ),
            ("achievement_earned", {"badge": {"de": "Schnellstarter", "en": "Fast starter"}, "points": 50}),
            ("new_leads_digest", {"leads": [teaser]}),
        ]:
            await outbox.queue(session, user_id=user_id, kind=kind, key="k1", template=kind, context=context)


@pytest.mark.parametrize("locale", ["en", "de"])
async def test_every_kind_in_the_users_language(
    db: Database, settings: Settings, smtp_server: SmtpServer, locale: str
) -> None:
    world, rep = await world_with_rep(db, locale)
    lead = await make_lead(db, world, now=utcnow())  # offered to the rep's org: the instant e-mail is queued
    await _queue_each_kind(db, rep.user_id, lead.id)
    sent = await jobs.send_due(db, settings=sending_to(settings, smtp_server.url))
    assert sent == 6
    assert len(smtp_server.messages) == 6
    kinds = list(SUBJECTS[locale])
    for message in smtp_server.messages:
        assert message["To"] == rep.email
        assert message["Content-Language"] == locale
        unsubscribe = str(message["List-Unsubscribe"]).strip()  # a long header may be folded (RFC 5322)
        assert unsubscribe.startswith(f"<{settings.base_url}/unsubscribe/") and unsubscribe.endswith(">")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text, html = parts(message)
        assert "<script" not in html.lower() and "<style" not in html.lower()
        assert 'style="' in html  # the stylesheet is inlined into the elements
        assert settings.base_url in text and settings.base_url in html
        matching = [kind for kind in kinds if SUBJECTS[locale][kind] in message["Subject"]]
        assert matching, message["Subject"]
        kinds.remove(matching[0])
        if matching[0] in ("new_lead", "new_leads_digest"):
            assert f"{settings.base_url}/a/" in html and f"{settings.base_url}/a/" in text
            assert "GmbH" not in text  # a teaser: no company before the lead is reserved
        if matching[0] == "feedback_due":
            assert text.count(f"{settings.base_url}/a/") == 5  # contacted, meeting, won, lost, not reachable
    assert kinds == []
    if locale == "de":
        (new_lead,) = [m for m in smtp_server.messages if m["Subject"].startswith("Neuer Lead")]
        _, html = parts(new_lead)
        assert "Reserve lead" not in html and "Lead reservieren" in html


async def test_queued_twice_is_sent_once(db: Database, settings: Settings, smtp_server: SmtpServer) -> None:
    _, rep = await world_with_rep(db)
    context = {"badge": {"de": "A", "en": "A"}, "points": None}
    for _ in range(2):
        async with db.transaction() as session:
            await outbox.queue(
                session,
                user_id=rep.user_id,
                kind="achievement_earned",
                key="x",
                template="achievement_earned",
                context=context,
            )
    target = sending_to(settings, smtp_server.url)
    assert await jobs.send_due(db, settings=target) == 1
    assert await jobs.send_due(db, settings=target) == 0
    assert len(smtp_server.messages) == 1


async def test_smtp_down_then_up_is_retried_and_sent_once(db: Database, settings: Settings) -> None:
    _, rep = await world_with_rep(db)
    server = SmtpServer()  # nothing listens on its port yet
    target = sending_to(settings, server.url)
    async with db.transaction() as session:
        await outbox.queue(
            session,
            user_id=rep.user_id,
            kind="achievement_earned",
            key="y",
            template="achievement_earned",
            context={"badge": {"en": "B"}, "points": 5},
        )
    now = utcnow()
    assert await jobs.send_due(db, now, settings=target) == 1
    async with db.reader() as session:
        mail = (await session.scalars(select(OutboxMail))).one()
    assert mail.status == MailStatus.PENDING and mail.attempts == 1 and mail.last_error
    assert mail.next_attempt_at == now + jobs.BACKOFF[0]
    server.up()
    try:
        assert await jobs.send_due(db, now + dt.timedelta(seconds=30), settings=target) == 0  # not due yet
        assert await jobs.send_due(db, now + jobs.BACKOFF[0], settings=target) == 1
        assert await jobs.send_due(db, now + dt.timedelta(hours=1), settings=target) == 0
        assert len(server.messages) == 1
    finally:
        server.down()
    async with db.reader() as session:
        mail = (await session.scalars(select(OutboxMail))).one()
    assert mail.status == MailStatus.SENT and mail.attempts == 2


async def test_failed_for_good_after_the_last_backoff(db: Database, settings: Settings) -> None:
    _, rep = await world_with_rep(db)
    target = sending_to(settings, SmtpServer().url)  # never up
    async with db.transaction() as session:
        await outbox.queue(
            session,
            user_id=rep.user_id,
            kind="achievement_earned",
            key="z",
            template="achievement_earned",
            context={"badge": {"en": "C"}, "points": 0},
        )
    at = utcnow()
    for wait in (dt.timedelta(0), *jobs.BACKOFF):
        at += wait
        assert await jobs.send_due(db, at, settings=target) == 1
    async with db.reader() as session:
        mail = (await session.scalars(select(OutboxMail))).one()
    assert mail.status == MailStatus.FAILED and mail.attempts == len(jobs.BACKOFF) + 1


async def test_without_smtp_url_the_mail_is_logged(
    db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    world, rep = await world_with_rep(db)
    await make_lead(db, world, now=utcnow())
    assert await jobs.send_due(db, settings=sending_to(settings, None)) == 1
    assert "no SMTP_URL" in caplog.text and rep.email in caplog.text


async def test_daily_digest_once_per_user_and_day(db: Database, settings: Settings, smtp_server: SmtpServer) -> None:
    world, rep = await world_with_rep(db, "de")
    async with db.transaction() as session:
        await preferences.change_preferences(session, rep.user_id, {"email_new_leads": "daily"})
    # Offered at 18:00 Berlin time: no instant e-mail; the digest the next morning at 07:00.
    evening = dt.datetime(2026, 3, 2, 17, 0, tzinfo=dt.UTC)
    first, second = await make_lead(db, world, now=evening), await make_lead(db, world, now=evening)
    async with db.reader() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMail)) == 0
    before, after = dt.datetime(2026, 3, 3, 5, 59, tzinfo=dt.UTC), dt.datetime(2026, 3, 3, 6, 1, tzinfo=dt.UTC)
    assert await lead_jobs.mail_offer_digests(db, before) == 0
    assert await lead_jobs.mail_offer_digests(db, after) == 1
    assert await lead_jobs.mail_offer_digests(db, after + dt.timedelta(hours=3)) == 0  # once per day
    await jobs.send_due(db, settings=sending_to(settings, smtp_server.url))
    (message,) = smtp_server.messages
    assert message["Subject"] == "2 neue Leads auf Ihrer Pickliste"
    text, _ = parts(message)
    assert text.count("/a/") == 2 and str(first.id) and str(second.id)


async def test_overdue_and_due_reminders_go_to_the_reserving_rep(
    db: Database, settings: Settings, smtp_server: SmtpServer
) -> None:
    world, rep = await world_with_rep(db)
    now = utcnow()
    lead = await make_lead(db, world, now=now)
    async with db.transaction() as session:
        reserved = await leads.reserve_lead(session, rep.principal, lead.id, now)
        due = reserved.feedback_due_at
    assert due is not None
    assert await lead_jobs.mail_feedback_due(db, due - dt.timedelta(hours=1)) == 1
    assert await lead_jobs.mail_feedback_due(db, due - dt.timedelta(minutes=30)) == 0  # once per due time
    await lead_jobs.notice_overdue_feedback(db, due + dt.timedelta(minutes=1))
    await jobs.send_due(db, due + dt.timedelta(minutes=2), settings=sending_to(settings, smtp_server.url))
    subjects = sorted(message["Subject"] for message in smtp_server.messages)
    assert [s for s in subjects if "feedback" in s] == [
        f"Your feedback on {reserved.company} is due soon",
        f"Your feedback on {reserved.company} is overdue",
    ]


async def test_settings_off_queue_nothing(db: Database, settings: Settings) -> None:
    world, rep = await world_with_rep(db)
    async with db.transaction() as session:
        await preferences.change_preferences(session, rep.user_id, {"email_new_leads": "off"})
    await make_lead(db, world, now=utcnow())
    async with db.reader() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMail)) == 0


async def test_turned_off_after_it_was_queued_is_not_sent_and_not_retried(
    db: Database, settings: Settings, smtp_server: SmtpServer
) -> None:
    _, rep = await world_with_rep(db)
    context = {"badge": {"de": "A", "en": "A"}, "points": None}
    async with db.transaction() as session:
        await outbox.queue(
            session,
            user_id=rep.user_id,
            kind="achievement_earned",
            key="y",
            template="achievement_earned",
            context=context,
        )
    async with db.transaction() as session:  # the one-click unsubscribe of an earlier badge e-mail
        await preferences.unsubscribe(session, rep.user_id, "achievement_earned")
    target = sending_to(settings, smtp_server.url)
    assert await jobs.send_due(db, settings=target) == 1
    assert smtp_server.messages == []
    async with db.reader() as session:
        mail = (await session.scalars(select(OutboxMail))).one()
    assert (mail.status, mail.last_error) == (MailStatus.FAILED, jobs.TURNED_OFF)  # final: no retry
    assert await jobs.send_due(db, utcnow() + dt.timedelta(days=2), settings=target) == 0
