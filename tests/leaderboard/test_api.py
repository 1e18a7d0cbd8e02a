"""GET /api/v1/leaderboard and the /leaderboard page over real HTTP: ranks with ties, the caller's row, the boards
a partner may see (others answer 404), bad input, empty boards, and a reserve-and-return loop that earns no rank."""

from __future__ import annotations

import httpx
import pytest

from incentives.accounts.roles import Role
from incentives.db import Database, utcnow
from incentives.leaderboard import jobs as leaderboard
from incentives.ledger.services import Award
from incentives.rules import payouts
from incentives.rules.defaults import install_default_rules
from incentives.rules.processor import process_events
from tests.factories import Actor, make_member, make_program, make_user
from tests.leads.helpers import make_lead, make_reseller
from tests.web.test_pages import login


async def _award(db: Database, program_id: int, org_id: int, points: int, key: str) -> None:
    async with db.transaction() as session:
        await payouts.pay_awards(session, program_id, [Award(org_id, points, key)], [(None, None)], utcnow())
    await leaderboard.count_pending(db)


async def _board(http: httpx.AsyncClient, who: Actor, query: str = "") -> httpx.Response:
    return await http.get(f"/api/v1/leaderboard?period=all{query}", headers=who.auth)


async def test_ties_share_a_rank_and_a_partner_sees_its_own_row(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    first, second = await make_member(db, world, tier="gold"), await make_member(db, world, tier="gold")
    third = await make_member(db, world, tier="silver")
    await _award(db, world.program_id, first, 30, "a")
    await _award(db, world.program_id, second, 30, "b")
    await _award(db, world.program_id, third, 10, "c")
    answer = await _board(http, world.admin)
    assert answer.status_code == 200
    body = answer.json()
    assert [(item["org_id"], item["rank"], item["points"]) for item in body["items"]] == [
        (first, 1, 30),
        (second, 1, 30),
        (third, 3, 10),
    ]
    assert body["me"] is None and body["of"] == 3
    manager = await make_user(db, world, third, Role.RESELLER_MANAGER)
    mine = (await _board(http, manager)).json()
    assert mine["me"] == {"rank": 3, "points": 10}
    league = (await _board(http, manager, "&scope=tier:silver")).json()
    assert [(item["org_id"], item["rank"]) for item in league["items"]] == [(third, 1)]
    assert league["me"] == {"rank": 1, "points": 10}


async def test_a_partner_sees_only_the_boards_it_belongs_to(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    other_world = await make_program(db)
    org = await make_member(db, world, tier="silver")
    neighbour = await make_member(db, world, tier="gold")
    rep = await make_user(db, world, org, Role.RESELLER_REP)
    for scope in ("tier:gold", "region:FR", "distributor:999", f"reps:{neighbour}"):
        assert (await _board(http, rep, f"&scope={scope}")).status_code == 404, scope
    assert (await _board(http, rep, f"&program_id={other_world.program_id}")).status_code == 404
    assert (await _board(http, world.admin, f"&program_id={other_world.program_id}")).status_code == 404
    for scope in ("program", "tier:silver", "region:DE-80", f"reps:{org}"):
        assert (await _board(http, rep, f"&scope={scope}")).status_code == 200, scope


async def test_a_distributor_sees_its_own_board_only_where_its_resellers_are(
    db: Database, http: httpx.AsyncClient
) -> None:
    world, other_world = await make_program(db), await make_program(db)
    distributor = await make_member(db, world, kind="distributor")
    reseller = await make_member(db, world, distributor_id=distributor)
    await _award(db, world.program_id, reseller, 20, "d")
    manager = await make_user(db, world, distributor, Role.DISTRIBUTOR_MANAGER)
    own = f"&scope=distributor:{distributor}"
    answer = await _board(http, manager, f"{own}&program_id={world.program_id}")
    assert answer.status_code == 200
    assert [item["org_id"] for item in answer.json()["items"]] == [reseller]
    # A program it has no reseller in: its board there is not shown, and the program's existence not told.
    assert (await _board(http, manager, f"{own}&program_id={other_world.program_id}")).status_code == 404
    assert (await _board(http, manager, f"&program_id={other_world.program_id}")).status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "&period=year",
        "&period=campaign:x",
        "&period=campaign:²",
        "&scope=bogus",
        "&scope=tier:diamond",
        "&scope=distributor:²",
        "&limit=0",
        "&limit=501",
    ],
)
async def test_bad_input_is_a_translated_422(db: Database, http: httpx.AsyncClient, query: str) -> None:
    world = await make_program(db)
    answer = await http.get(f"/api/v1/leaderboard?x=1{query}", headers={**world.admin.auth, "Accept-Language": "de"})
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["code"] == "validation_error" and problem["errors"]
    assert answer.headers["content-language"] == "de"


async def test_an_empty_board_answers_sensibly(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    rep = await make_user(db, world, org, Role.RESELLER_REP)
    body = (await _board(http, rep)).json()
    assert body["items"] == [] and body["me"] == {"rank": 1, "points": 0} and body["of"] == 1
    page = await http.get("/leaderboard")
    assert page.status_code in (200, 303)


async def test_reserve_and_return_earns_no_rank(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    async with db.transaction() as session:
        await install_default_rules(session, world.program_id)
    looper, honest = await make_reseller(db, world), await make_reseller(db, world)
    for actor in (looper, honest):
        lead = await make_lead(db, world, temperature="cold", now=utcnow())
        assert (await http.post(f"/api/v1/leads/{lead.id}/reserve", headers=actor.auth)).status_code == 200
        if actor is looper:
            back = await http.post(f"/api/v1/leads/{lead.id}/return", headers=actor.auth, json={"reason": "no time"})
            assert back.status_code == 200
    await process_events(db, utcnow())
    items = {item["org_id"]: item for item in (await _board(http, world.admin)).json()["items"]}
    assert items[looper.org_id]["points"] == 0 and items[honest.org_id]["points"] > 0
    assert items[honest.org_id]["rank"] == 1 and items[looper.org_id]["rank"] == 2
    team = (await _board(http, honest, f"&scope=reps:{honest.org_id}")).json()
    assert [(item["user_id"], item["rank"]) for item in team["items"]] == [(honest.user_id, 1)]


async def test_the_page_pins_the_partners_row_and_refreshes_by_etag(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    orgs = [await make_member(db, world, tier="gold") for _ in range(14)]
    for index, org in enumerate(orgs):
        await _award(db, world.program_id, org, 100 - index * 5, f"p{index}")
    last = await make_user(db, world, orgs[-1], Role.RESELLER_MANAGER)
    assert (await login(http, last.email)).status_code in (200, 303)
    page = await http.get("/leaderboard?period=all", headers={"Accept-Language": "de"})
    assert page.status_code == 200
    assert "Rang 14 von 14" in page.text and 'class="mine" aria-current="true"' in page.text
    assert "5 Punkte hinter Rang 13" in page.text
    fragment = await http.get("/leaderboard?period=all", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text and fragment.headers["etag"]
    again = await http.get(
        "/leaderboard?period=all", headers={"HX-Request": "true", "If-None-Match": fragment.headers["etag"]}
    )
    assert again.status_code == 304
    await _award(db, world.program_id, orgs[-1], 500, "jump")
    moved = await http.get(
        "/leaderboard?period=all", headers={"HX-Request": "true", "If-None-Match": fragment.headers["etag"]}
    )
    assert moved.status_code == 200 and "Rank 1 of 14" in moved.text
