"""Money in requests, as API.md writes it — {"amount": "1234.50", "currency": "EUR"} — on every money input of the
API, over real HTTP: the object is accepted, another currency is a 422 naming the field, a bare amount still works,
answers carry the object, and the OpenAPI document describes both forms."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from incentives.db import Database
from tests.factories import make_program
from tests.leads.helpers import make_reseller
from tests.leads.test_api import lead_body

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def euro(amount: str, currency: str = "EUR") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def locs(response: httpx.Response) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    return [error["loc"] for error in response.json()["errors"]]


async def test_a_lead_takes_its_estimated_value_as_money_or_as_a_bare_amount(
    db: Database, http: httpx.AsyncClient
) -> None:
    world = await make_program(db)
    auth = world.admin.auth
    created = await http.post(
        "/api/v1/leads", headers=auth, json=lead_body(world.program_id, estimated_value=euro("1234.50"))
    )
    assert created.status_code == 201, created.text
    lead = (await http.get(f"/api/v1/leads/{created.json()['id']}", headers=auth)).json()
    assert lead["estimated_value"] == euro("1234.50")

    bare = await http.post("/api/v1/leads", headers=auth, json=lead_body(world.program_id, estimated_value="980"))
    assert bare.status_code == 201, bare.text
    assert (await http.get(f"/api/v1/leads/{bare.json()['id']}", headers=auth)).json()["estimated_value"] == euro(
        "980.00"
    )

    dollars = await http.post(
        "/api/v1/leads", headers=auth, json=lead_body(world.program_id, estimated_value=euro("10", "USD"))
    )
    assert locs(dollars) == [["estimated_value", "currency"]]
    for wrong, where in (
        ({"amount": "1.234"}, ["estimated_value", "currency"]),  # the currency is required in the object
        ({"amount": "x", "currency": "EUR"}, ["estimated_value", "amount"]),
        ({"amount": "1", "currency": "EUR", "cents": 5}, ["estimated_value", "cents"]),
        ("12.345", ["estimated_value"]),
        ([1], ["estimated_value"]),
    ):
        refused = await http.post(
            "/api/v1/leads", headers=auth, json=lead_body(world.program_id, estimated_value=wrong)
        )
        assert where in locs(refused), wrong
    german = await http.post(
        "/api/v1/leads",
        headers={**auth, "Accept-Language": "de"},
        json=lead_body(world.program_id, estimated_value=euro("x")),
    )
    assert german.json()["errors"][0]["msg"] == "Muss ein Betrag wie 1250,00 sein."


async def test_a_won_lead_takes_its_deal_value_as_money(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    auth = world.admin.auth
    rep = await make_reseller(db, world)
    lead_id = (await http.post("/api/v1/leads", headers=auth, json=lead_body(world.program_id))).json()["id"]
    await http.post(f"/api/v1/leads/{lead_id}/qualify", headers=auth)
    await http.post(f"/api/v1/leads/{lead_id}/offer", headers=auth)
    assert (await http.post(f"/api/v1/leads/{lead_id}/reserve", headers=rep.auth)).status_code == 200
    path = f"/api/v1/leads/{lead_id}/feedback"
    dollars = await http.post(path, headers=rep.auth, json={"status": "won", "deal_value": euro("18500.50", "USD")})
    assert locs(dollars) == [["deal_value", "currency"]]
    won = await http.post(path, headers=rep.auth, json={"status": "won", "deal_value": euro("18500.50")})
    assert won.status_code == 200, won.text
    assert won.json()["deal_value"] == euro("18500.50") and won.json()["estimated_value"] == euro("24000.00")


async def test_a_reward_takes_its_value_as_money_or_as_a_bare_amount(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    auth = world.admin.auth
    base = {"program_id": world.program_id, "kind": "mdf", "name": {"de": "MDF 500", "en": "MDF 500"}, "points": 500}
    created = await http.post("/api/v1/rewards", headers=auth, json={**base, "value": euro("500.00")})
    assert created.status_code == 201, created.text
    assert created.json()["value"] == euro("500.00")
    bare = await http.post("/api/v1/rewards", headers=auth, json={**base, "value": "250"})
    assert bare.status_code == 201 and bare.json()["value"] == euro("250.00")
    dollars = await http.post("/api/v1/rewards", headers=auth, json={**base, "value": euro("500.00", "USD")})
    assert locs(dollars) == [["value", "currency"]]
    negative = await http.post("/api/v1/rewards", headers=auth, json={**base, "value": euro("-5")})
    assert locs(negative) == [["value", "amount"]]
    change = await http.post(
        f"/api/v1/rewards/{created.json()['id']}",
        headers=auth,
        json={**{k: v for k, v in base.items() if k != "program_id"}, "value": euro("600.00")},
    )
    assert change.status_code == 200 and change.json()["value"] == euro("600.00")


@SQLITE_ONLY
async def test_the_openapi_document_describes_both_forms_on_every_money_input(http: httpx.AsyncClient) -> None:
    spec = (await http.get("/api/v1/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    inputs = {
        ("LeadIn", "estimated_value"),
        ("FeedbackIn", "deal_value"),
        ("CorrectionIn", "deal_value"),
        ("RewardIn", "value"),
        ("RewardFieldsIn", "value"),
    }
    for model, name in inputs:
        prop = schemas[model]["properties"][name]
        forms = next(choice for choice in prop["anyOf"] if "oneOf" in choice)["oneOf"]
        money, bare = forms
        assert money["type"] == "object" and money["required"] == ["amount", "currency"], (model, name)
        assert money["properties"]["currency"]["const"] == "EUR"
        assert {"type": "string"} in bare["anyOf"], (model, name)
        assert "EUR" in prop["anyOf"][0]["description"]
    # Every request field whose schema carries money uses the shared form (none is left as a bare number).
    found = {
        (model, name)
        for model, schema in schemas.items()
        for name, prop in schema.get("properties", {}).items()
        if "EUR" in str(prop) and model.endswith("In")
    }
    assert found == inputs
