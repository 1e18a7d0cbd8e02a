"""Achievement pages over real HTTP: managers define one with live validation; partners see badges and streaks."""

from __future__ import annotations

import datetime as dt

import httpx

from incentives.accounts.roles import Role
from incentives.db import Database, utcnow
from incentives.engagement.jobs import process_outbox
from tests.engagement import add_event, add_test_achievement
from tests.factories import make_member, make_program, make_user
from tests.web.test_pages import csrf_of, login

HX = {"HX-Request": "true"}


async def test_a_manager_defines_an_achievement_with_live_validation(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    await login(http, world.admin.email)
    page = await http.get("/achievements/manage", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "New achievement" in page.text and "No achievements yet." in page.text
    form = {
        "csrftoken": csrf_of(page),
        "name_de": "Pünktlich",
        "name_en": "On time",
        "event": "lead.feedback",
        "kind": "count",
        "target": "5",
        "period": "week",
        "points": "20",
    }
    bad = await http.post("/achievements/validate", data={**form, "condition": "feedback.on_tme"}, headers=HX)
    assert bad.status_code == 200 and "Line 1, column 1" in bad.text and "on_tme" in bad.text
    good = await http.post("/achievements/validate", data={**form, "condition": "feedback.on_time"}, headers=HX)
    assert "The condition is valid." in good.text
    refused = await http.post("/achievements/manage", data={**form, "condition": "feedback.on_time", "target": "0"})
    assert refused.status_code == 422 and "Must be between 1 and" in refused.text
    saved = await http.post(
        "/achievements/manage", data={**form, "condition": "feedback.on_time", "ends_on": "2026-03-08"}
    )
    assert saved.status_code == 303
    shown = await http.get(saved.headers["location"])
    assert "The achievement is saved." in shown.text and "On time" in shown.text and "challenge" in shown.text


async def test_a_partner_sees_earned_and_locked_badges_and_streaks(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    rep = await make_user(db, world, org, Role.RESELLER_REP, locale="de")
    await add_test_achievement(db, world.program_id, name_de="Erster Lead", name_en="First lead", target=1)
    await add_test_achievement(db, world.program_id, name_de="Zehn Leads", name_en="Ten leads", target=10, points=50)
    now = utcnow()
    await add_event(db, world.program_id, org, at=now - dt.timedelta(hours=1))
    await process_outbox(db, now)
    await login(http, rep.email)
    page = await http.get("/achievements")
    assert page.status_code == 200
    earned, locked = page.text.split("Noch zu verdienen")
    assert "Erster Lead" in earned and "Zehn Leads" in locked
    assert "1 von 10" in locked and "+50 Punkte" in locked and "Serien" in earned
    # Managers' page is not the partners' and vice versa.
    assert (await http.get("/achievements/manage")).status_code == 404
