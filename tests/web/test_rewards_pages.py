"""The rewards pages over real HTTP: German and English, HTMX fragments, one-time redeem keys, scope (404)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from incentives.db import Database
from incentives.ledger import queries
from tests.factories import Actor
from tests.rewards.helpers import make_reward, make_rewards_world, redeem
from tests.web.test_pages import csrf_of, login

HX = {"HX-Request": "true"}


@asynccontextmanager
async def browser_for(server: str, actor: Actor) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
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
        key = _key(text, cheap)
        form = {"csrftoken": csrf_of(page), "request_key": key, "quantity": "1"}
        first = await client.post(f"/rewards/{cheap}/redeem", data=form, headers=HX)
        second = await client.post(f"/rewards/{cheap}/redeem", data=form, headers=HX)  # a double click
        assert first.status_code == second.status_code == 200
        assert 'id="balance"' in first.text and 'hx-swap-oob="true"' in first.text
        assert "750" in first.text and "Eingelöst" in first.text
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
        assert "Available" in wallet.text and "700" in wallet.text and "held for a redemption" in wallet.text
        assert "Redemption: Reward bonus" in wallet.text
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
