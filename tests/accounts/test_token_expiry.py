"""API tokens that expire: chosen through the API (1 to 365 days, none by default) or on the /tokens page (90
days by default); from its expiry on a token is refused exactly like a revoked one."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
from sqlalchemy import select

from incentives import db as clock
from incentives.accounts.models import ApiToken
from incentives.accounts.roles import Role
from incentives.db import Database
from tests.factories import make_member, make_program, make_user
from tests.web.test_pages import csrf_of, login


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def parse(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.mark.parametrize("days", [0, 366, -1, "30", 1.5, True])
async def test_a_lifetime_outside_one_to_365_days_is_refused(
    db: Database, http: httpx.AsyncClient, days: object
) -> None:
    world = await make_program(db)
    body = {"user_id": world.admin.user_id, "expires_in_days": days}
    answer = await http.post("/api/v1/tokens", headers=world.admin.auth, json=body)
    assert answer.status_code == 422, answer.text
    assert "expires_in_days" in answer.text
    async with db.reader() as session:
        assert len(list(await session.scalars(select(ApiToken)))) == 1  # the admin's own from set-up, nothing new


async def test_an_expired_token_is_refused_like_a_revoked_one(
    db: Database, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await make_program(db)
    before = clock.utcnow()
    made = await http.post(
        "/api/v1/tokens", headers=world.admin.auth, json={"user_id": world.admin.user_id, "expires_in_days": 30}
    )
    assert made.status_code == 201, made.text
    expires_at = parse(made.json()["expires_at"])
    assert before + dt.timedelta(days=30) <= expires_at <= clock.utcnow() + dt.timedelta(days=30)
    forever = await http.post("/api/v1/tokens", headers=world.admin.auth, json={"user_id": world.admin.user_id})
    assert forever.status_code == 201 and forever.json()["expires_at"] is None  # the API's default: no expiry
    revoked = await http.post("/api/v1/tokens", headers=world.admin.auth, json={"user_id": world.admin.user_id})
    async with db.transaction() as session:
        row = await session.scalar(select(ApiToken).where(ApiToken.prefix == revoked.json()["token"][:12]))
        assert row is not None
        row.revoked_at = clock.utcnow()

    expiring = bearer(made.json()["token"])
    assert (await http.get("/api/v1/points", headers=expiring)).status_code == 200
    monkeypatch.setattr(clock, "utcnow", lambda: expires_at - dt.timedelta(seconds=1))
    assert (await http.get("/api/v1/points", headers=expiring)).status_code == 200
    monkeypatch.setattr(clock, "utcnow", lambda: expires_at)
    refused = await http.get("/api/v1/points", headers=expiring)
    as_revoked = await http.get("/api/v1/points", headers=bearer(revoked.json()["token"]))
    assert refused.status_code == as_revoked.status_code == 401
    assert refused.json() == as_revoked.json()
    assert refused.headers.get("www-authenticate") == as_revoked.headers.get("www-authenticate")
    # A token without expiry still works a year later.
    monkeypatch.setattr(clock, "utcnow", lambda: before + dt.timedelta(days=400))
    assert (await http.get("/api/v1/points", headers=bearer(forever.json()["token"]))).status_code == 200


async def test_the_tokens_page_offers_90_days_first_and_shows_the_expiry(
    db: Database, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await make_program(db)
    manager = await make_user(db, world, await make_member(db, world), Role.RESELLER_MANAGER, locale="en")
    await login(http, manager.email)
    page = await http.get("/tokens")
    assert re.search(r'<option value="90" selected>in 90 days</option>', page.text), page.text
    before = clock.utcnow()
    made = await http.post("/tokens", data={"csrftoken": csrf_of(page), "name": "CRM sync", "expires_in_days": "90"})
    assert made.status_code == 200
    never = await http.post("/tokens", data={"csrftoken": csrf_of(page), "name": "Forever", "expires_in_days": "never"})
    assert never.status_code == 200
    odd = await http.post("/tokens", data={"csrftoken": csrf_of(page), "name": "Odd", "expires_in_days": "7"})
    assert odd.status_code == 422 and "Please choose when the token expires." in odd.text
    async with db.reader() as session:
        rows = {t.name: t.expires_at for t in await session.scalars(select(ApiToken).where(ApiToken.name.is_not(None)))}
    assert set(rows) == {"CRM sync", "Forever"} and rows["Forever"] is None
    assert rows["CRM sync"] is not None
    assert before + dt.timedelta(days=90) <= rows["CRM sync"] <= clock.utcnow() + dt.timedelta(days=90)
    token = re.search(r'id="new-token">([^<]+)<', made.text)
    assert token is not None

    monkeypatch.setattr(clock, "utcnow", lambda: before + dt.timedelta(days=91))
    assert (await http.get("/api/v1/points", headers=bearer(token.group(1)))).status_code == 401
    listed = await http.get("/tokens")
    row = re.search(r'<tr id="token-\d+"[^>]*>\s*<td[^>]*>CRM sync<.*?</tr>', listed.text, re.S)
    assert row is not None and 'class="muted"' in row.group(0) and "expired on" in row.group(0)


async def test_the_tokens_page_in_german(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    manager = await make_user(db, world, await make_member(db, world), Role.RESELLER_MANAGER, locale="de")
    await login(http, manager.email)
    page = await http.get("/tokens")
    assert "in 90 Tagen" in page.text and "Läuft ab" in page.text
