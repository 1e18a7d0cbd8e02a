"""No existence oracle: a rule or campaign found by id answers 404 to everyone who may not manage it."""

from __future__ import annotations

import datetime as dt

import httpx

from incentives.accounts.roles import Role
from incentives.db import Database
from tests.conftest import page_client
from tests.factories import make_member, make_org, make_program, make_user
from tests.web.test_pages import login
from tests.web.test_rules_api import rule_body

PARTNER_ROLES = (Role.RESELLER_REP, Role.RESELLER_MANAGER, Role.DISTRIBUTOR_MANAGER)
START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def campaign_body(program_id: int) -> dict[str, object]:
    return {
        "program_id": program_id,
        "name": {"de": "Frühjahr", "en": "Spring"},
        "starts_at": START.isoformat(),
        "ends_at": (START + dt.timedelta(days=30)).isoformat(),
        "segment": {"tiers": ["gold"]},
        "multiplier": 2,
    }


async def test_partners_and_other_programs_find_no_rule_or_campaign(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    other = await make_program(db)
    admin = world.admin.auth
    rule_id = (await http.post("/api/v1/rules", json=rule_body(world.program_id), headers=admin)).json()["id"]
    campaign = await http.post("/api/v1/campaigns", json=campaign_body(world.program_id), headers=admin)
    campaign_id = campaign.json()["id"]
    # Partners of this program and of another, and another program's staff.
    callers = [other.admin]
    for program in (world, other):
        reseller = await make_member(db, program)
        distributor = await make_member(db, program, kind="distributor")
        callers += [await make_user(db, program, reseller, role) for role in PARTNER_ROLES[:2]]
        callers.append(await make_user(db, program, distributor, Role.DISTRIBUTOR_MANAGER))
    window = {"from": START.isoformat(), "to": (START + dt.timedelta(days=7)).isoformat()}
    calls = [
        ("GET", f"/api/v1/campaigns/{campaign_id}", None),
        ("PUT", f"/api/v1/campaigns/{campaign_id}", campaign_body(world.program_id)),
        ("PATCH", f"/api/v1/campaigns/{campaign_id}", {"multiplier": 3}),
        ("DELETE", f"/api/v1/campaigns/{campaign_id}", None),
        ("GET", f"/api/v1/rules/{rule_id}/versions", None),
        ("PUT", f"/api/v1/rules/{rule_id}", rule_body(world.program_id)),
        ("POST", f"/api/v1/rules/{rule_id}/simulate", window),
    ]
    for caller in callers:
        for method, path, body in calls:
            answer = await http.request(method, path, json=body, headers=caller.auth)
            assert (answer.status_code, answer.json()["code"]) == (404, "not_found"), (caller.principal.role, path)
            missing = path.replace(f"/{rule_id}", "/999999").replace(f"/{campaign_id}", "/999999")
            assert (await http.request(method, missing, json=body, headers=caller.auth)).status_code == 404
    # The program's own agency staff know the program: for them it is a matter of role (403).
    agency = await make_user(db, world, await make_org(db, world, "agency"), Role.AGENCY)
    assert (await http.get(f"/api/v1/rules/{rule_id}/versions", headers=agency.auth)).status_code == 403
    assert (await http.get(f"/api/v1/campaigns/{campaign_id}", headers=admin)).status_code == 200
    # The pages do the same: a partner finds neither editor.
    async with page_client(http.base_url) as browser:
        assert (await login(browser, callers[1].email)).status_code == 303
        for path in (f"/rules/{rule_id}", f"/rules/campaigns/{campaign_id}", "/rules/999999"):
            assert (await browser.get(path)).status_code == 404, path
