"""The rewards pages over real HTTP: German and English, HTMX fragments, one-time redeem keys, scope (404)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import httpx
from sqlalchemy import select

from incentives.accounts.roles import Role
from incentives.db import Database
from incentives.leads import services as leads
from incentives.ledger import queries
from incentives.rewards.models import Reward
from tests.conftest import page_client
from tests.factories import Actor, make_user
from tests.leads.helpers import T0, make_lead
from tests.rewards.helpers import make_reward, make_rewards_world, redeem
from tests.web.test_pages import csrf_of, login

HX = {"HX-Request": "true"}


@asynccontextmanager
async def browser_for(server: str, actor: Actor) -> AsyncIterator[httpx.AsyncClient]:
    async with page_client(server, timeout=30) as client:
        response = await login(client, actor.email)
        assert response.status_code == 303, response.text
        yield client


def _key(page: str, reward_id: int) -> str:
    form = page.split(f'action="/rewards/{reward_id}/redeem"', 1)[1]
    match = re.search(r'name="request_key" value="([^"]+)"', form)
    assert match
    return match.group(1)


async def test_catalog_in_german_redeems_once_per_key_and_updates_the_balance(db: Database, server: str) -> None:
    rw = await make_rewards_world(db, points=1250, locale="de")
    cheap = await make_reward(db, rw, "bonus", points=500, name_de="Reisegutschein", name_en="Travel voucher")
    dear = await make_reward(db, rw, "mdf", points=2000)
    async with browser_for(server, rw.manager) as client:
        page = await client.get("/rewards")
        assert page.status_code == 200
        text = page.text
        assert "Reisegutschein" in text and "1.250" in text and "Punkte verfügbar" in text
        assert "Es fehlen noch 750 Punkte" in text  # the MDF item is out of reach, and says by how much
        assert 'hx-confirm="500 Ihrer 1.250 Punkte für Reisegutschein einlösen?"' in text  # asked before spending
        key = _key(text, cheap)
        form = {"csrftoken": csrf_of(page), "request_key": key, "quantity": "1"}
        first = await client.post(f"/rewards/{cheap}/redeem", data=form, headers=HX)
        second = await client.post(f"/rewards/{cheap}/redeem", data=form, headers=HX)  # a double click
        assert first.status_code == second.status_code == 200
        assert 'id="balance"' in first.text and 'hx-swap-oob="true"' in first.text
        assert "750" in first.text and "Eingelöst" in first.text
        # The other cards come along out of band with the new balance: the MDF item now lacks 1,250 points.
        other = first.text.split(f'id="reward-{dear}"', 1)[1]
        assert (
            first.text.count(f'id="reward-{dear}" hx-swap-oob="true"') == 1 and "Es fehlen noch 1.250 Punkte" in other
        )
        assert _key(first.text, cheap) != key  # a fresh key for a deliberate second redemption
        async with db.reader() as session:
            balance = await queries.balance(session, rw.program_id, rw.org_id)
        assert (balance.available, balance.held) == (750, 500)
        refused = await client.post(f"/rewards/{dear}/redeem", data={**form, "request_key": "other"}, headers=HX)
        assert "Es fehlen 1.250 Punkte" in refused.text
        mine = await client.get("/redemptions")
        assert "wartet auf Genehmigung" in mine.text and "Stornieren" in mine.text


async def test_rep_sees_wallet_and_catalog_but_cannot_redeem(db: Database, server: str) -> None:
    rw = await make_rewards_world(db, points=800, locale="en")
    reward = await make_reward(db, rw, "bonus", points=100)
    await redeem(db, rw.manager, reward)
    async with browser_for(server, rw.rep) as client:
        catalog = await client.get("/rewards")
        assert catalog.status_code == 200 and "request_key" not in catalog.text
        wallet = await client.get("/wallet")
        assert wallet.status_code == 200
        assert "Available" in wallet.text and "700" in wallet.text and "waiting for approval" in wallet.text
        assert "Redemption" in wallet.text and "Reward bonus" in wallet.text
        filtered = await client.get("/wallet?kind=expired", headers=HX)
        assert filtered.status_code == 200 and "No entries." in filtered.text and "<html" not in filtered.text
        page = await client.get("/rewards")
        response = await client.post(
            f"/rewards/{reward}/redeem", data={"csrftoken": csrf_of(page), "request_key": "x"}, headers=HX
        )
        assert "Only a reseller manager can redeem rewards." in response.text
        assert (await client.get("/approvals")).status_code == 404


async def test_manager_approves_in_place_and_in_bulk(db: Database, server: str) -> None:
    rw = await make_rewards_world(db, points=5000)
    reward = await make_reward(db, rw, "discount", points=100)
    first, second, third = [await redeem(db, rw.manager, reward) for _ in range(3)]
    async with browser_for(server, rw.pam) as client:
        queue = await client.get("/approvals")
        assert queue.status_code == 200 and queue.text.count('class="approval card"') == 3
        token = csrf_of(queue)
        approved = await client.post(f"/redemptions/{first.id}/approve", data={"csrftoken": token}, headers=HX)
        assert approved.status_code == 200 and "fulfilled" in approved.text and "RW-" in approved.text
        twice = await client.post(f"/redemptions/{first.id}/approve", data={"csrftoken": token}, headers=HX)
        assert "already decided" in twice.text
        rejected = await client.post(
            f"/redemptions/{second.id}/reject", data={"csrftoken": token, "reason": "Too early"}, headers=HX
        )
        assert "rejected" in rejected.text and "Too early" in rejected.text
        bulk = await client.post(
            "/approvals/bulk", data={"csrftoken": token, "ids": [str(third.id), str(first.id)]}, headers=HX
        )
        assert "1 redemption approved." in bulk.text and "1 could not be approved" in bulk.text
        assert "Nothing waits for your approval." in bulk.text
    async with browser_for(server, rw.manager) as client:
        notes = await client.get("/notifications")
        assert "was approved" in notes.text and "Too early" in notes.text


async def test_other_orgs_redemptions_and_pages_answer_404(db: Database, server: str) -> None:
    rw = await make_rewards_world(db, points=1000)
    reward = await make_reward(db, rw, "mdf", points=100)
    redemption = await redeem(db, rw.manager, reward)
    other = await make_rewards_world(db, points=1000)
    for outsider in (other.manager, other.pam):
        async with browser_for(server, outsider) as client:
            token = csrf_of(await client.get("/rewards"))
            for action in ("approve", "reject", "cancel"):
                response = await client.post(
                    f"/redemptions/{redemption.id}/{action}", data={"csrftoken": token, "reason": "x"}, headers=HX
                )
                assert response.status_code == 404, (action, response.text)
            redeem_other = await client.post(
                f"/rewards/{reward}/redeem", data={"csrftoken": token, "request_key": "k"}, headers=HX
            )
            assert redeem_other.status_code == 404
            assert (await client.get(f"/rewards?program_id={rw.program_id}")).status_code == 404
            assert (await client.get(f"/wallet?program_id={rw.program_id}")).status_code == 404
            assert (await client.get(f"/redemptions?program_id={rw.program_id}")).status_code == 404
            assert (await client.get("/mdf/claims/1/proof")).status_code == 404
            assert f'id="redemption-{redemption.id}"' not in (await client.get("/redemptions")).text


async def test_claim_upload_checks_type_and_size(db: Database, server: str) -> None:
    rw = await make_rewards_world(db, points=1000, locale="en")
    reward = await make_reward(db, rw, "mdf", points=100, auto_approve_up_to=100)
    await redeem(db, rw.manager, reward)
    async with browser_for(server, rw.manager) as client:
        page = await client.get("/mdf")
        assert "€500.00" in page.text
        allocation = int(re.findall(r'action="/mdf/(\d+)/claims"', page.text)[0])
        token = csrf_of(page)
        wrong = await client.post(
            f"/mdf/{allocation}/claims",
            data={"csrftoken": token, "activity": "Fair", "amount": "10"},
            files={"proof": ("x.pdf", b"not a pdf", "application/pdf")},
        )
        assert wrong.status_code == 422 and "Only PDF, PNG or JPEG files are accepted." in wrong.text
        above = await client.post(
            f"/mdf/{allocation}/claims",
            data={"csrftoken": token, "activity": "Fair", "amount": "600"},
            files={"proof": ("x.pdf", b"%PDF-1.7 test", "application/pdf")},
        )
        assert above.status_code == 422 and "above the remaining MDF budget" in above.text
        good = await client.post(
            f"/mdf/{allocation}/claims",
            data={"csrftoken": token, "activity": "Fair", "amount": "120,50"},
            files={"proof": ("x.pdf", b"%PDF-1.7 test", "application/pdf")},
        )
        assert good.status_code == 303
        page = await client.get("/mdf")
        assert "€379.50" in page.text and "submitted" in page.text
        claim = int(re.findall(r'href="/mdf/claims/(\d+)/proof"', page.text)[0])
        proof = await client.get(f"/mdf/claims/{claim}/proof")
        assert proof.status_code == 200 and proof.content == b"%PDF-1.7 test"
        assert proof.headers["content-type"] == "application/pdf"


# --- catalog management ------------------------------------------------------------------------------------------

ITEM = {
    "kind": "mdf",
    "name_de": "Messebudget",
    "name_en": "Trade fair budget",
    "description_de": "Für Ihren Stand",
    "description_en": "For your booth",
    "points": "1.500",
    "value": "750,50",
    "percent": "",
    "stock": "4",
    "limit_per_period": "2",
    "limit_period": "quarter",
    "auto_approve_up_to": "",
    "valid_from": "2026-01-01",
    "valid_to": "2030-12-31",
    "active": "1",
}


def _form_key(page: str) -> str:
    match = re.search(r'name="request_key" value="([^"]+)"', page)
    assert match
    return match.group(1)


async def _items(db: Database, program_id: int) -> list[Reward]:
    async with db.reader() as session:
        return list(await session.scalars(select(Reward).where(Reward.program_id == program_id).order_by(Reward.id)))


async def test_an_admin_adds_an_item_once_and_sees_errors_at_the_field_in_german(db: Database, server: str) -> None:
    rw = await make_rewards_world(db)
    admin = await make_user(db, rw.world, rw.world.admin.org_id, Role.ADMIN, locale="de")
    async with browser_for(server, admin) as client:
        listing = await client.get("/rewards/manage")
        assert listing.status_code == 200 and 'href="/rewards/new"' in listing.text
        form = await client.get("/rewards/new")
        assert form.status_code == 200
        key, token = _form_key(form.text), csrf_of(form)
        wrong = {
            **ITEM,
            "csrftoken": token,
            "request_key": key,
            "value": "",
            "points": "viele",
            "valid_to": "2025-12-31",
        }
        refused = await client.post("/rewards/new", data=wrong)
        assert refused.status_code == 422
        assert "Bitte korrigieren Sie die markierten Felder." in refused.text
        for name in ("points", "valid_to"):
            assert f'id="f-{name}" name="{name}"' in refused.text and f'id="e-{name}"' in refused.text
        assert "Muss nach dem Beginn liegen." in refused.text
        assert 'value="viele"' in refused.text  # what was typed stays in the form
        assert await _items(db, rw.program_id) == []
        # The corrected form, sent twice with the same key (a double click): one item.
        good = {**ITEM, "csrftoken": token, "request_key": key}
        first = await client.post("/rewards/new", data=good)
        second = await client.post("/rewards/new", data=good)
        assert first.status_code == second.status_code == 303
        assert first.headers["location"] == second.headers["location"]
        [item] = await _items(db, rw.program_id)
        assert (item.points, item.value, item.stock, item.limit_per_period, item.limit_period) == (
            1500,
            Decimal("750.50"),
            4,
            2,
            "quarter",
        )
        assert item.valid_to is not None and item.valid_to.isoformat() == "2030-12-31T23:00:00+00:00"  # Berlin midnight
        listing = await client.get(first.headers["location"])
        assert "Messebudget" in listing.text and "750,50\xa0€" in listing.text and "1.500" in listing.text
        assert "31.12.2030" in listing.text  # the last valid day, in the reader's format


async def test_an_admin_changes_and_deactivates_an_item_in_english(db: Database, server: str) -> None:
    rw = await make_rewards_world(db, points=1000)
    reward_id = await make_reward(db, rw, "mdf", points=300, value=Decimal("500.00"), stock=5)
    await redeem(db, rw.manager, reward_id)
    async with browser_for(server, rw.world.admin) as client:
        form = await client.get(f"/rewards/{reward_id}/edit")
        assert form.status_code == 200 and 'value="500.00"' in form.text and "has been redeemed already" in form.text
        values = {**ITEM, "csrftoken": csrf_of(form), "request_key": _form_key(form.text)}
        values |= {"value": "900", "points": "450", "stock": "3", "valid_from": "", "valid_to": ""}
        refused = await client.post(f"/rewards/{reward_id}/edit", data=values)
        assert refused.status_code == 422 and 'id="e-value"' in refused.text
        assert "This item has been redeemed already, so this stays as it is." in refused.text
        saved = await client.post(f"/rewards/{reward_id}/edit", data={**values, "value": "500.00"})
        assert saved.status_code == 303, saved.text
        [item] = await _items(db, rw.program_id)
        assert (item.points, item.value, item.stock, item.name_en, item.valid_to) == (
            450,
            Decimal("500.00"),
            3,
            "Trade fair budget",
            None,
        )
        listing = await client.get("/rewards/manage")
        assert "€500.00" in listing.text and "(1 open)" in listing.text and "2 per quarter" in listing.text
        off = await client.post(f"/rewards/{reward_id}/deactivate", data={"csrftoken": csrf_of(listing)}, headers=HX)
        assert off.status_code == 200 and "<html" not in off.text and "inactive" in off.text
        assert f'action="/rewards/{reward_id}/deactivate"' not in off.text
    async with browser_for(server, rw.manager) as client:
        assert "Trade fair budget" not in (await client.get("/rewards")).text


async def test_catalog_management_scope(db: Database, server: str) -> None:
    rw = await make_rewards_world(db)
    reward_id = await make_reward(db, rw, "bonus", name_en="Airline miles")
    other = await make_rewards_world(db)
    await make_reward(db, other, "bonus", name_en="Foreign voucher")
    # A partner manager sees the list read-only; the form and the actions do not exist for them.
    async with browser_for(server, rw.pam) as client:
        listing = await client.get("/rewards/manage")
        assert listing.status_code == 200 and "Airline miles" in listing.text and "Foreign voucher" not in listing.text
        assert 'href="/rewards/new"' not in listing.text and "/edit" not in listing.text
        assert 'href="/rewards/manage"' in listing.text  # in the navigation
    for outsider in (rw.pam, rw.manager, rw.rep, other.world.admin, other.pam):
        async with browser_for(server, outsider) as client:
            token = csrf_of(await client.get("/notifications"))
            if outsider is not other.world.admin:  # who may add to its own program's catalog
                assert (await client.get("/rewards/new")).status_code == 404
            assert (await client.get(f"/rewards/{reward_id}/edit")).status_code == 404
            changed = await client.post(
                f"/rewards/{reward_id}/edit", data={**ITEM, "csrftoken": token, "request_key": "k"}
            )
            assert changed.status_code == 404
            off = await client.post(f"/rewards/{reward_id}/deactivate", data={"csrftoken": token}, headers=HX)
            assert off.status_code == 404
    for partner in (rw.manager, rw.rep):
        async with browser_for(server, partner) as client:
            assert (await client.get("/rewards/manage")).status_code == 404
    async with browser_for(server, other.world.admin) as client:
        assert (await client.get(f"/rewards/manage?program_id={rw.program_id}")).status_code == 404
    [item] = await _items(db, rw.program_id)
    assert item.name_en == "Airline miles" and item.active


# --- KPIs in the approvals queue ------------------------------------------------------------------------------


async def test_the_approvals_queue_shows_each_partners_kpis(db: Database, server: str) -> None:
    rw = await make_rewards_world(db, points=1000)
    quiet = await make_rewards_world(db, points=1000)  # another program's partner, for the empty case below
    reward_id = await make_reward(db, rw, "bonus", points=100)
    won, lost = [await make_lead(db, rw.world, now=T0) for _ in range(2)]
    async with db.transaction() as session:
        await leads.reserve_lead(session, rw.rep.principal, won.id, now=T0 + dt.timedelta(hours=2))
    async with db.transaction() as session:
        await leads.reserve_lead(session, rw.rep.principal, lost.id, now=T0 + dt.timedelta(hours=4))
    async with db.transaction() as session:
        await leads.give_feedback(
            session, rw.rep.principal, won.id, status="won", deal_value=Decimal("12000"), now=T0 + dt.timedelta(days=2)
        )
    async with db.transaction() as session:
        await leads.give_feedback(
            session, rw.rep.principal, lost.id, status="lost", lost_reason="zu teuer", now=T0 + dt.timedelta(days=3)
        )
    await redeem(db, rw.manager, reward_id)
    # won: picked after 2 h, won 46 h later, on time; lost: picked after 4 h, answered after 68 h (late).
    async with browser_for(server, rw.pam) as client:
        queue = (await client.get("/approvals")).text
    assert "Time to pick (TTP)" in queue
    for figure in ("3 hours", "50%", "1.9 days", "€12,000.00"):
        assert f"<dd>{figure}</dd>" in queue, figure
    german = await make_user(db, rw.world, rw.world.admin.org_id, Role.PARTNER_MANAGER, locale="de")
    async with browser_for(server, german) as client:
        queue = (await client.get("/approvals")).text
    for figure in ("3 Stunden", "50\xa0%", "1,9 Tage", "12.000,00\xa0€"):
        assert f"<dd>{figure}</dd>" in queue, figure
    # A partner without leads: dashes, not zeros.
    await redeem(db, quiet.manager, await make_reward(db, quiet, "bonus", points=100))
    async with browser_for(server, quiet.pam) as client:
        queue = (await client.get("/approvals")).text
    assert queue.count("<dd>–</dd>") == 5 and "<dd>0</dd>" in queue
