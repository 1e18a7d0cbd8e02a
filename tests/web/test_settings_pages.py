"""Admins edit every program setting in the web, validated as the API validates them; users create, name, see
the last use of and revoke API tokens."""

from __future__ import annotations

import re

import httpx

from incentives.accounts.roles import Role
from incentives.db import Database
from tests.conftest import page_client
from tests.factories import make_member, make_program, make_user
from tests.web.test_pages import csrf_of, login


def _form(page: httpx.Response) -> dict[str, str]:
    """Every input and chosen option of the settings form, as a browser would send them unchanged."""
    data = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page.text))
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', page.text, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        data[name] = chosen.group(1) if chosen else ""
    return data


def _row(page: str, name: str) -> str:
    found = re.search(rf'<tr id="token-\d+"[^>]*>\s*<td[^>]*>{name}<.*?</tr>', page, re.S)
    assert found is not None, name
    return found.group(0)


async def test_an_admin_edits_every_setting_in_german(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    admin = await make_user(db, world, world.admin.org_id, Role.ADMIN, locale="de")
    await login(http, admin.email)
    page = await http.get("/settings")
    assert page.status_code == 200 and "Programmeinstellungen" in page.text and "Kontakt erreichbar" in page.text
    form = _form(page)
    assert form["escalation_hours"] == "12" and form["level_key_0"] == "bronze"
    form |= {
        "escalation_hours": "24",
        "max_overdue_leads": "2",
        "capacity_mode": "hard",
        "default_locale": "de",
        "weight_tier": "1,5",
        "level_key_4": "diamond",
        "level_de_4": "Diamant",
        "level_en_4": "Diamond",
        "level_threshold_4": "10.000",
        "check_key_5": "site_visit",
        "check_de_5": "Vor-Ort-Termin",
        "check_en_5": "Site visit",
        "check_key_1": "",
        "check_de_1": "",
        "check_en_1": "",
    }
    saved = await http.post("/settings", data=form)
    assert saved.status_code == 303, saved.text
    program = (await http.get(f"/api/v1/programs/{world.program_id}", headers=world.admin.auth)).json()
    assert program["escalation_hours"] == 24 and program["max_overdue_leads"] == 2
    assert program["capacity_mode"] == "hard" and program["matching_weights"]["tier"] == 1.5
    assert program["levels"][-1] == {"key": "diamond", "name": {"de": "Diamant", "en": "Diamond"}, "threshold": 10000}
    keys = [item["key"] for item in program["qualification_checklist"]]
    assert "site_visit" in keys and "need_confirmed" not in keys
    again = await http.get("/settings?saved=1")
    assert "Einstellungen gespeichert." in again.text and 'value="1,5"' in again.text


async def test_bad_input_names_the_field_and_changes_nothing(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    admin = await make_user(db, world, world.admin.org_id, Role.ADMIN, locale="en")
    await login(http, admin.email)
    form = _form(await http.get("/settings"))
    form |= {"escalation_hours": "48", "offer_wave_size": "0", "level_threshold_2": "100", "weight_fairness": "abc"}
    refused = await http.post("/settings", data=form)
    assert refused.status_code == 422
    assert 'id="f-offer_wave_size"' in refused.text and 'aria-invalid="true"' in refused.text
    assert 'name="weight_fairness" type="text" value="abc"' in refused.text  # what was typed stays
    ladder = await http.post("/settings", data={**_form(await http.get("/settings")), "level_threshold_2": "100"})
    assert ladder.status_code == 422 and "Thresholds must rise from one level to the next." in ladder.text
    program = (await http.get(f"/api/v1/programs/{world.program_id}", headers=world.admin.auth)).json()
    assert program["escalation_hours"] == 12 and program["offer_wave_size"] == 5


async def test_only_admins_see_the_settings(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    pam = await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER, locale="en")
    await login(http, pam.email)
    assert (await http.get("/settings")).status_code == 404
    page = await http.get("/tokens")
    assert (await http.post("/settings", data={"csrftoken": csrf_of(page)})).status_code == 404


async def test_tokens_are_named_shown_once_noted_when_used_and_revoked(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    manager = await make_user(db, world, org, Role.RESELLER_MANAGER, locale="en")
    await login(http, manager.email)
    page = await http.get("/tokens")
    assert page.status_code == 200 and ">CRM sync<" not in page.text
    unnamed = await http.post("/tokens", data={"csrftoken": csrf_of(page), "name": ""})
    assert unnamed.status_code == 422 and "Please name the token" in unnamed.text
    created = await http.post("/tokens", data={"csrftoken": csrf_of(page), "name": "CRM sync"})
    assert created.status_code == 200 and created.headers["Cache-Control"] == "no-store"
    token = re.search(r'<code class="token" id="new-token">([^<]+)</code>', created.text)
    assert token is not None and "never" in _row(created.text, "CRM sync")
    auth = {"Authorization": f"Bearer {token.group(1)}"}
    assert (await http.get("/api/v1/points", headers=auth)).status_code == 200
    listed = await http.get("/tokens")
    assert token.group(1) not in listed.text and "never" not in _row(listed.text, "CRM sync")  # shown once; used
    token_id = re.search(r'id="token-(\d+)">\s*<td[^>]*>CRM sync<', listed.text)
    assert token_id is not None
    # Somebody else's token is not found.
    other = await make_program(db)
    async with page_client(str(http.base_url)) as stranger:
        await login(stranger, other.admin.email)
        strange = await stranger.get("/tokens")
        refused = await stranger.post(f"/tokens/{token_id.group(1)}/revoke", data={"csrftoken": csrf_of(strange)})
        assert refused.status_code == 404 and ">CRM sync<" not in strange.text
    assert (await http.get("/api/v1/points", headers=auth)).status_code == 200
    revoked = await http.post(f"/tokens/{token_id.group(1)}/revoke", data={"csrftoken": csrf_of(listed)})
    assert revoked.status_code == 303
    assert (await http.get("/api/v1/points", headers=auth)).status_code == 401
    assert "revoked on" in _row((await http.get("/tokens")).text, "CRM sync")


async def test_an_admin_issues_a_token_for_program_staff_in_german(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    admin = await make_user(db, world, world.admin.org_id, Role.ADMIN, locale="de")
    pam = await make_user(db, world, world.admin.org_id, Role.PARTNER_MANAGER, locale="de")
    await login(http, admin.email)
    page = await http.get("/tokens")
    assert "API-Tokens" in page.text and pam.email in page.text and world.admin.email in page.text
    created = await http.post("/tokens", data={"csrftoken": csrf_of(page), "name": "Agentur", "user_id": pam.user_id})
    assert created.status_code == 200 and "Ihr neuer Token" in created.text and "Handelt als" in created.text
    token = re.search(r'id="new-token">([^<]+)<', created.text)
    assert token is not None
    me = await http.get("/api/v1/leads", headers={"Authorization": f"Bearer {token.group(1)}"})
    assert me.status_code == 200
