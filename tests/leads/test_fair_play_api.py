"""Fair play over real HTTP: a step back is 409 invalid_state in the reader's language; a manager corrects a
status and marks a lead invalid; the partner sees why; others' leads stay 404."""

from __future__ import annotations

import httpx

from incentives.db import Database
from tests.factories import make_program
from tests.leads.helpers import make_lead, make_reseller


async def test_step_back_correction_and_invalid_over_http(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    lead = await make_lead(db, world)
    assert (await http.post(f"/api/v1/leads/{lead.id}/reserve", headers=rep.auth)).status_code == 200
    feedback = f"/api/v1/leads/{lead.id}/feedback"
    assert (await http.post(feedback, headers=rep.auth, json={"status": "proposal"})).status_code == 200
    again = await http.post(feedback, headers=rep.auth, json={"status": "proposal", "note": "sent v2"})
    assert again.status_code == 200, again.text
    back = await http.post(feedback, headers={**rep.auth, "Accept-Language": "de"}, json={"status": "contacted"})
    assert back.status_code == 409 and back.headers["content-type"].startswith("application/problem+json")
    assert back.json()["code"] == "invalid_state" and "zurück" in back.json()["detail"], back.text
    # Partners cannot correct; managers can, and must say why.
    correct = f"/api/v1/leads/{lead.id}/correct"
    assert (await http.post(correct, headers=rep.auth, json={"status": "meeting", "reason": "x"})).status_code == 404
    no_reason = await http.post(correct, headers=world.admin.auth, json={"status": "meeting"})
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["loc"] == ["reason"]
    fixed = await http.post(correct, headers=world.admin.auth, json={"status": "meeting", "reason": "no offer yet"})
    assert fixed.status_code == 200 and fixed.json()["last_feedback"] == "meeting", fixed.text
    invalid = f"/api/v1/leads/{lead.id}/invalidate"
    bad = await http.post(invalid, headers=world.admin.auth, json={"reason": "boring"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["reason"]
    done = await http.post(invalid, headers=world.admin.auth, json={"reason": "duplicate", "note": "same as #1"})
    assert done.status_code == 200 and done.json()["status"] == "invalid", done.text
    seen = (await http.get(f"/api/v1/leads/{lead.id}", headers=rep.auth)).json()
    assert seen["invalid"] == {"reason": "duplicate", "note": "same as #1"}
    # Another program's manager sees nothing of it.
    other = await make_program(db)
    assert (await http.get(f"/api/v1/leads/{lead.id}", headers=other.admin.auth)).status_code == 404
    assert (await http.post(invalid, headers=other.admin.auth, json={"reason": "fake"})).status_code == 404
