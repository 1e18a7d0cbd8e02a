"""Action and unsubscribe links over real HTTP: GET changes nothing, POST acts once, two clicks at once act once,
tampered 404, expired 410, another's lead 404; the settings API and its 422s; one-click unsubscribe."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
from sqlalchemy import select

from incentives.config import Settings
from incentives.db import Database, utcnow
from incentives.leads import services as leads
from incentives.leads.models import Lead, LeadStatus
from incentives.mail import links, preferences
from tests.leads.helpers import make_lead, make_reseller
from tests.mail.helpers import world_with_rep


async def _status(db: Database, lead_id: int) -> str:
    async with db.reader() as session:
        return str((await session.scalars(select(Lead.status).where(Lead.id == lead_id))).one())


async def test_reserve_link_get_confirms_post_acts_once(
    db: Database, settings: Settings, http: httpx.AsyncClient
) -> None:
    world, rep = await world_with_rep(db, "de")
    lead = await make_lead(db, world, now=utcnow())
    token = links.action_token(settings.secret_key, rep.user_id, lead.id, "reserve", utcnow())
    async with httpx.AsyncClient(base_url=str(http.base_url)) as anonymous:  # no cookie, no Origin, no CSRF token
        page = await anonymous.get(f"/a/{token}")
        assert page.status_code == 200 and "Lead reservieren" in page.text and "<form" in page.text
        assert await _status(db, lead.id) == LeadStatus.OFFERED  # a mail scanner's GET changes nothing
        done = await anonymous.post(f"/a/{token}")
        assert done.status_code == 200 and "Der Lead gehört Ihnen" in done.text
        assert await _status(db, lead.id) == LeadStatus.RESERVED
        again = await anonymous.post(f"/a/{token}")
        assert again.status_code == 410 and "bereits verwendet" in again.text and "/login" in again.text
        assert (await anonymous.get(f"/a/{token}")).status_code == 410


async def test_two_clicks_at_once_act_once(db: Database, settings: Settings, http: httpx.AsyncClient) -> None:
    world, rep = await world_with_rep(db)
    lead = await make_lead(db, world, now=utcnow())
    token = links.action_token(settings.secret_key, rep.user_id, lead.id, "reserve", utcnow())
    async with httpx.AsyncClient(base_url=str(http.base_url)) as anonymous:
        answers = await asyncio.gather(*(anonymous.post(f"/a/{token}") for _ in range(2)))
    assert sorted(answer.status_code for answer in answers) == [200, 410]


async def test_tampered_and_expired_links(db: Database, settings: Settings, http: httpx.AsyncClient) -> None:
    world, rep = await world_with_rep(db)
    lead = await make_lead(db, world, now=utcnow())
    token = links.action_token(settings.secret_key, rep.user_id, lead.id, "reserve", utcnow())
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    forged = links.action_token("another-secret-" + "y" * 32, rep.user_id, lead.id, "reserve", utcnow())
    for bad in (tampered, forged, "nonsense"):
        answer = await http.post(f"/a/{bad}")
        assert answer.status_code == 404 and "/login" in answer.text
    # Issued just over 7 days before the server's clock reads it.
    old = links.action_token(
        settings.secret_key, rep.user_id, lead.id, "reserve", utcnow() - links.LIFETIME - dt.timedelta(seconds=5)
    )
    assert (await http.get(f"/a/{old}")).status_code == 410
    assert (await http.post(f"/a/{old}")).status_code == 410
    assert await _status(db, lead.id) == LeadStatus.OFFERED


async def test_feedback_links_ask_for_value_and_touch_only_own_leads(
    db: Database, settings: Settings, http: httpx.AsyncClient
) -> None:
    world, rep = await world_with_rep(db)
    other = await make_reseller(db, world)
    lead = await make_lead(db, world, now=utcnow())
    async with db.transaction() as session:
        await leads.reserve_lead(session, rep.principal, lead.id)
    # Another partner's user, with a validly signed link to a lead it does not hold: 404, nothing changes.
    theirs = links.action_token(settings.secret_key, other.user_id, lead.id, "lost", utcnow())
    assert (await http.get(f"/a/{theirs}")).status_code == 404
    assert (await http.post(f"/a/{theirs}", data={"lost_reason": "x"})).status_code == 404
    won = links.action_token(settings.secret_key, rep.user_id, lead.id, "won", utcnow())
    page = await http.get(f"/a/{won}")
    assert page.status_code == 200 and 'name="deal_value"' in page.text and lead.company in page.text
    missing = await http.post(f"/a/{won}", data={"deal_value": ""})
    assert missing.status_code == 422 and await _status(db, lead.id) == LeadStatus.RESERVED
    done = await http.post(f"/a/{won}", data={"deal_value": "18500"})
    assert done.status_code == 200 and "Thank you for your feedback" in done.text
    assert await _status(db, lead.id) == LeadStatus.WON
    assert (await http.post(f"/a/{theirs}", data={"lost_reason": "x"})).status_code == 404


async def test_settings_api_defaults_changes_and_422s(db: Database, http: httpx.AsyncClient) -> None:
    world, rep = await world_with_rep(db)
    other = await make_reseller(db, world)
    url = "/api/v1/me/notifications"
    first = await http.get(url, headers=rep.auth)
    assert first.status_code == 200 and first.json() == preferences.DEFAULTS.as_dict()
    changed = await http.patch(url, headers=rep.auth, json={"email_new_leads": "daily", "email_weekly_report": False})
    assert changed.status_code == 200
    assert changed.json()["email_new_leads"] == "daily" and changed.json()["email_weekly_report"] is False
    assert changed.json()["email_feedback_reminders"] is True
    for body, field in [
        ({"email_new_leads": "hourly"}, "email_new_leads"),
        ({"email_feedback_reminders": "yes"}, "email_feedback_reminders"),
        ({"email_weekly_report": None}, "email_weekly_report"),
        ({"surprise": True}, "surprise"),
    ]:
        refused = await http.patch(url, headers={**rep.auth, "Accept-Language": "de"}, json=body)
        assert refused.status_code == 422, body
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "validation_error"
        assert [field] in [error["loc"][-1:] for error in refused.json()["errors"]]
    assert (await http.get(url, headers=rep.auth)).json()["email_new_leads"] == "daily"  # nothing half-written
    assert (await http.get(url, headers=other.auth)).json() == preferences.DEFAULTS.as_dict()  # one's own only
    assert (await http.get(url)).status_code == 401


async def test_one_click_unsubscribe(db: Database, settings: Settings, http: httpx.AsyncClient) -> None:
    _, rep = await world_with_rep(db, "de")
    token = links.unsubscribe_token(settings.secret_key, rep.user_id, "feedback_overdue")
    async with httpx.AsyncClient(base_url=str(http.base_url)) as mail_client:
        page = await mail_client.get(f"/unsubscribe/{token}")
        assert page.status_code == 200 and "Erinnerungen an Rückmeldungen" in page.text
        async with db.reader() as session:
            assert (await preferences.preferences_of(session, rep.user_id)).email_feedback_reminders is True
        # RFC 8058: the mail client POSTs this body, with no cookie and no CSRF token.
        done = await mail_client.post(f"/unsubscribe/{token}", content=b"List-Unsubscribe=One-Click")
        assert done.status_code == 200
        assert (await mail_client.post(f"/unsubscribe/{token[:-2]}xx")).status_code == 404
    async with db.reader() as session:
        prefs = await preferences.preferences_of(session, rep.user_id)
    assert prefs.email_feedback_reminders is False and prefs.email_new_leads == "instant"
