"""Schemathesis against the served OpenAPI document: every operation, generated valid and invalid requests as
an admin and as a reseller, through real HTTP to the real app on both databases. No answer may be a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from incentives.db import Database
from incentives.web.api.openapi import build_openapi
from incentives.web.app import APIS
from tests.factories import Actor, make_program
from tests.leads.helpers import make_lead, make_reseller

schema = schemathesis.openapi.from_dict(build_openapi(APIS))
EXAMPLES = 8


@pytest.fixture
async def callers(db: Database) -> dict[str, Actor]:
    world = await make_program(db)
    rep = await make_reseller(db, world)
    await make_lead(db, world)  # an offered lead, so ids 1 name something
    return {"admin": world.admin, "reseller": rep}


@pytest.mark.parametrize("role", ["admin", "reseller"])
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_generated_request_makes_a_server_error(
    case: schemathesis.Case, server: str, callers: dict[str, Actor], role: str
) -> None:
    case.call_and_validate(base_url=server, headers=callers[role].auth, checks=[not_a_server_error])
