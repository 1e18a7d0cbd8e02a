"""Manual point adjustments in the web UI: admins only, a reason always, audited, booked once on a double submit."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import func, select

from incentives.accounts.roles import Role
from incentives.db import Database
from incentives.ledger import queries
from incentives.ledger.models import LedgerTransfer
from tests.conftest import page_client
from tests.factories import make_member, make_program, make_user
from tests.web.test_pages import csrf_of, login

EN = {"Accept-Language": "en"}


def key_of(page: httpx.Response) -> str:
    match = re.search(r'name="key" value="([0-9a-f]+)"', page.text)
    assert match, "the form has no key"
    return match.group(1)


async def adjustments(db: Database, program_id: int) -> list[tuple[int, int | None, str | None]]:
    async with db.reader() as session:
        rows = await session.execute(
            select(LedgerTransfer.amount, LedgerTransfer.user_id, LedgerTransfer.reason)
            .where(LedgerTransfer.program_id == program_id, LedgerTransfer.kind == "adjust")
            .order_by(LedgerTransfer.id)
        )
        return [(amount, user_id, reason) for amount, user_id, reason in rows.all()]


async def test_admin_adds_and_takes_back_points_once_with_a_reason(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    await login(http, world.admin.email)
    page = await http.get("/points/adjustments", headers=EN)
    assert page.status_code == 200 and "Point adjustments" in page.text and "No adjustments yet." in page.text
    form = {"csrftoken": csrf_of(page), "key": key_of(page), "org_id": str(org), "direction": "add", "points": "120"}
    form["reason"] = "Messestand Hannover"
    first = await http.post("/points/adjustments", data=form, headers=EN)
    assert first.status_code == 303
    again = await http.post("/points/adjustments", data=form, headers=EN)  # a double submit
    assert again.status_code == 303 and again.headers["location"] == first.headers["location"]
    assert await adjustments(db, world.program_id) == [(120, world.admin.user_id, "Messestand Hannover")]

    page = await http.get("/points/adjustments", headers=EN)
    assert "The adjustment is booked." in page.text or "+120" in page.text
    assert "Messestand Hannover" in page.text and "+120" in page.text
    take = {**form, "key": key_of(page), "direction": "subtract", "points": "20", "reason": "Doppelt gebucht"}
    assert (await http.post("/points/adjustments", data=take, headers=EN)).status_code == 303
    async with db.reader() as session:
        assert (await queries.balance(session, world.program_id, org)).available == 100
    page = await http.get("/points/adjustments", headers=EN)
    assert "−20" in page.text or "-20" in page.text


async def test_bad_adjustments_are_explained_in_place_and_book_nothing(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    await login(http, world.admin.email)
    page = await http.get("/points/adjustments", headers=EN)
    form = {"csrftoken": csrf_of(page), "key": key_of(page), "org_id": str(org), "direction": "add"}
    cases = [
        ({"points": "10", "reason": "  "}, "Please give a reason: it is kept with the adjustment."),
        ({"points": "0", "reason": "x"}, "Must be a whole number of points other than zero."),
        ({"points": "zehn", "reason": "x"}, "Please enter whole points between 1 and 1,000,000,000."),
        ({"points": "10", "reason": "x", "org_id": "999999"}, "Please choose a partner."),
        (
            {"points": "50", "reason": "x", "direction": "subtract"},
            "Only 0 points are available; 50 are needed.",
        ),
    ]
    for change, message in cases:
        response = await http.post("/points/adjustments", data={**form, **change}, headers=EN)
        assert response.status_code == 422, change
        assert message in response.text and 'aria-invalid="true"' in response.text, change
    german = await http.post(
        "/points/adjustments", data={**form, "points": "0", "reason": "x"}, headers={"Accept-Language": "de"}
    )
    assert german.status_code == 422 and 'lang="de"' in german.text
    assert "Muss eine ganze Punktzahl ungleich null sein." in german.text
    async with db.reader() as session:
        assert (
            await session.scalar(
                select(func.count()).select_from(LedgerTransfer).where(LedgerTransfer.kind == "adjust")
            )
            == 0
        )


async def test_only_admins_of_the_program_find_the_page(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    other = await make_program(db)
    org = await make_member(db, world)
    foreign = await make_member(db, other)
    manager = await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER)
    rep = await make_user(db, world, org, Role.RESELLER_REP)
    for actor in (manager, rep):
        async with page_client(http.base_url) as client:
            await login(client, actor.email)
            assert (await client.get("/points/adjustments")).status_code == 404
            assert (await client.post("/points/adjustments", data={"points": "5"})).status_code in (403, 404)
    # An admin cannot book for a partner of another program.
    await login(http, world.admin.email)
    page = await http.get("/points/adjustments", headers=EN)
    assert str(foreign) not in re.findall(r'<option value="(\d+)"', page.text)
    form = {"csrftoken": csrf_of(page), "key": key_of(page), "org_id": str(foreign), "direction": "add"}
    response = await http.post("/points/adjustments", data={**form, "points": "5", "reason": "x"}, headers=EN)
    assert response.status_code == 422 and "Please choose a partner." in response.text
    assert await adjustments(db, other.program_id) == []
