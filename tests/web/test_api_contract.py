"""The served OpenAPI document against the contract in docs/API.md: calls, statuses and error codes.

API.md is read as written: its tables of calls (and the bullet naming `/api/v1/me/notifications`), the
"N `code`" errors of each call and the list of codes under "Conventions". The document is fetched from
the real app over HTTP, and a few real error paths show that a problem's code and status are its class's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from incentives.db import Database
from incentives.errors import DomainError, NotFound, Unauthorized, UnsupportedMediaType
from incentives.leads.errors import AlreadyReserved
from incentives.ledger.errors import InsufficientPoints
from incentives.rules.errors import InvalidExpression
from incentives.web.app import create_app
from tests.factories import make_member, make_program
from tests.leads.helpers import make_reseller

API_MD = Path(__file__).resolve().parents[2] / "docs" / "API.md"
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # the document needs no database

# API.md calls the app does not serve yet. A call leaves this set when it is served (the test below fails
# until it does), so the set only shrinks; a call missing from the app and not listed here fails too.
NOT_SERVED_YET: set[tuple[str, str]] = set()

# Codes the app answers with that API.md's list does not name: the body limit, a body that is not JSON, and
# two refusals of the rewards domain. Each is declared by its class like the others.
BEYOND_API_MD = {
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "limit_reached": 422,
    "reward_unavailable": 422,
}

_METHODS = r"(?:GET|POST|PUT|PATCH|DELETE)"
_CALL = re.compile(rf"`({_METHODS}(?:/{_METHODS})*) (/api/v1/[^`\s]+)`|`\.\.\./([^`\s]+)`")
_CODED = re.compile(r"\b([45]\d\d) `([a-z_]+)`")
_BARE = re.compile(r"\b([45]\d\d)\b(?! `)")
_SUCCESS = re.compile(r"→ (2\d\d)\b")
_CONVENTION_CODE = re.compile(r"`([a-z_]+)` (\d{3})")


@dataclass
class Call:
    method: str
    path: str
    answer: str = ""
    errors: set[tuple[int, str]] = field(default_factory=set)  # (status, code) the answer names
    statuses: set[int] = field(default_factory=set)  # error statuses named without a code ("404 for others")
    success: int | None = None


def documented_calls(text: str) -> dict[tuple[str, str], Call]:
    """Every call of API.md's tables (first cell: the calls, second: the answer) and of a bullet naming one."""
    calls: dict[tuple[str, str], Call] = {}
    # A bullet may go on over indented lines: read it as one line.
    for line in re.sub(r"\n  +(?=\S)", " ", text).splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
            head, answer = cells[0], cells[1] if len(cells) > 1 else ""
        elif line.startswith("- `") and "/api/v1/" in line.split("—")[0]:
            head, _, rest = line.partition("—")
            # A bullet that gives a body (`{...}` right after the dash) documents it like a table's cell.
            answer = rest.strip().split("`")[1] if rest.strip().startswith("`{") else ""
        else:
            continue
        for method, path in _calls_in(head):
            call = Call(method, path, answer)
            call.errors = {(int(status), code) for status, code in _CODED.findall(answer)}
            call.statuses = {int(status) for status in _BARE.findall(answer)}
            success = _SUCCESS.search(answer)
            call.success = int(success.group(1)) if success else None
            calls[method, path] = call
    return calls


def _calls_in(head: str) -> Iterator[tuple[str, str]]:
    """`GET/PATCH /a/{id}` gives two calls; `.../decline` after `POST /a/{id}/accept` is `POST /a/{id}/decline`."""
    methods: list[str] = []
    path = ""
    for found in _CALL.finditer(head):
        if found.group(3):
            path = path.rsplit("/", 1)[0] + "/" + found.group(3)
        else:
            methods, path = found.group(1).split("/"), found.group(2)
        for method in methods:
            yield method, path


def convention_codes(text: str) -> dict[str, int]:
    """The error codes API.md's conventions list, with their statuses."""
    start = text.index("Codes used below:")
    listed = text[start : text.index("\n- ", start)]
    return {code: int(status) for code, status in _CONVENTION_CODE.findall(listed)}


def declared(operation: dict[str, Any]) -> dict[str, int]:
    """The error codes an operation of the served document declares, with their statuses."""
    return {
        code: int(status)
        for status, response in operation["responses"].items()
        if int(status) >= 400
        for code in response["x-error-codes"]
    }


def served_calls(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), path): op for path, item in spec["paths"].items() for method, op in item.items()}


@pytest.fixture(scope="module")
def api_md() -> str:
    return API_MD.read_text(encoding="utf-8")


@pytest.fixture
async def spec(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def test_the_contract_is_read_as_written(api_md: str) -> None:
    calls = documented_calls(api_md)
    assert len(calls) > 40
    reserve = calls["POST", "/api/v1/leads/{id}/reserve"]
    assert reserve.errors == {(409, "already_reserved"), (403, "feedback_required")} and reserve.statuses == {404}
    assert calls["PATCH", "/api/v1/programs/{id}"].method == "PATCH"
    assert ("POST", "/api/v1/invitations/{id}/decline") in calls
    assert ("DELETE", "/api/v1/webhooks/{id}") in calls
    assert ("GET", "/api/v1/me/notifications") in calls
    assert calls["POST", "/api/v1/redemptions"].errors == {(422, "insufficient_points")}
    assert calls["POST", "/api/v1/webhooks/{id}/deliveries/{delivery_id}/retry"].success == 202
    assert convention_codes(api_md)["feedback_required"] == 403 and len(convention_codes(api_md)) == 14


def test_each_code_is_declared_by_one_class_with_its_status(api_md: str) -> None:
    create_app()  # every domain's error classes are imported
    classes: dict[str, list[type[DomainError]]] = {}
    pending = list(DomainError.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        classes.setdefault(cls.code, []).append(cls)
    for code, status in {**convention_codes(api_md), **BEYOND_API_MD}.items():
        assert len(classes.get(code, [])) == 1, (code, classes.get(code))
        assert classes[code][0].status == status, code
    assert not set(BEYOND_API_MD) & set(convention_codes(api_md)), "API.md lists it now: drop it from BEYOND_API_MD"


@SQLITE_ONLY
async def test_every_call_of_the_contract_is_served(api_md: str, spec: dict[str, Any]) -> None:
    documented = set(documented_calls(api_md))
    served = set(served_calls(spec))
    stale = NOT_SERVED_YET - documented
    assert not stale, f"not in API.md (any more): {sorted(stale)}"
    served_now = NOT_SERVED_YET & served
    assert not served_now, f"served now, remove from NOT_SERVED_YET: {sorted(served_now)}"
    missing = documented - served - NOT_SERVED_YET
    assert not missing, f"in API.md, not served: {sorted(missing)}"


@SQLITE_ONLY
async def test_each_call_declares_the_errors_and_status_the_contract_names(api_md: str, spec: dict[str, Any]) -> None:
    served = served_calls(spec)
    wrong = []
    for key, call in documented_calls(api_md).items():
        if key not in served:
            continue
        operation = served[key]
        codes = declared(operation)
        wrong += [(key, status, code, codes.get(code)) for status, code in call.errors if codes.get(code) != status]
        wrong += [(key, status) for status in call.statuses if str(status) not in operation["responses"]]
        if call.success is not None and str(call.success) not in operation["responses"]:
            wrong.append((key, call.success, sorted(operation["responses"])))
    assert not wrong


@SQLITE_ONLY
async def test_every_declared_code_is_a_code_of_the_contract(api_md: str, spec: dict[str, Any]) -> None:
    known = {**convention_codes(api_md), **BEYOND_API_MD}
    unknown = [
        (key, code, status)
        for key, operation in served_calls(spec).items()
        for code, status in declared(operation).items()
        if known.get(code) != status
    ]
    assert not unknown


@SQLITE_ONLY
async def test_conventions_hold_for_every_operation(spec: dict[str, Any]) -> None:
    for (method, path), operation in served_calls(spec).items():
        codes = declared(operation)
        assert codes["unauthorized"] == 401, (method, path)  # every call needs a token
        if method == "POST":  # Idempotency-Key: the same key with another body
            assert codes["idempotency_conflict"] == 409, (method, path)
        if "requestBody" in operation:
            assert codes["validation_error"] == 422, (method, path)
        schema = operation["responses"]["401"]["content"]["application/problem+json"]["schema"]
        assert schema["allOf"][1]["properties"]["code"]["enum"] == ["unauthorized"]


async def _problem(
    spec: dict[str, Any], response: httpx.Response, route: tuple[str, str], error: type[DomainError]
) -> dict[str, Any]:
    """The problem answered on `route`: its code and status are `error`'s, and the call declares them."""
    assert response.status_code == error.status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert (body["code"], body["status"]) == (error.code, error.status)
    assert body["type"].endswith("/" + error.code)
    assert declared(served_calls(spec)[route])[error.code] == error.status
    return body


@SQLITE_ONLY
async def test_problems_take_code_and_status_from_their_class(db: Database, http: httpx.AsyncClient) -> None:
    spec = (await http.get("/api/v1/openapi.json")).json()
    world = await make_program(db)
    admin = world.admin.auth
    await _problem(spec, await http.get("/api/v1/points"), ("GET", "/api/v1/points"), Unauthorized)
    await _problem(spec, await http.get("/api/v1/leads/999999", headers=admin), ("GET", "/api/v1/leads/{id}"), NotFound)
    not_json = await http.post("/api/v1/orgs", content=b"name=x", headers={**admin, "Content-Type": "text/plain"})
    await _problem(spec, not_json, ("POST", "/api/v1/orgs"), UnsupportedMediaType)

    rule = {"event": "lead.won", "condition": "deal.nothing > 1", "points": "10"}
    invalid = await http.post("/api/v1/rules/validate", json=rule, headers=admin)
    problem = await _problem(spec, invalid, ("POST", "/api/v1/rules/validate"), InvalidExpression)
    assert problem["field"] == "condition"

    org = await make_member(db, world)
    adjustment = {"program_id": world.program_id, "org_id": org, "reason": "correction", "points": -1}
    overdraw = await http.post("/api/v1/points/adjustments", json=adjustment, headers=admin)
    await _problem(spec, overdraw, ("POST", "/api/v1/points/adjustments"), InsufficientPoints)

    rep = await make_reseller(db, world)
    lead = {
        "program_id": world.program_id,
        "company": "Müller Bäckerei GmbH",
        "contact": {"name": "Eva Müller", "email": "eva@mueller.example"},
        "country": "DE",
        "postal_code": "80331",
        "product_line": "heat_pumps",
        "temperature": "warm",
    }
    lead_id = (await http.post("/api/v1/leads", json=lead, headers=admin)).json()["id"]
    assert (await http.post(f"/api/v1/leads/{lead_id}/qualify", headers=admin)).status_code == 200
    assert (await http.post(f"/api/v1/leads/{lead_id}/offer", headers=admin)).status_code == 200
    assert (await http.post(f"/api/v1/leads/{lead_id}/reserve", headers=rep.auth)).status_code == 200
    again = await http.post(f"/api/v1/leads/{lead_id}/reserve", headers={**rep.auth, "Accept-Language": "de"})
    body = await _problem(spec, again, ("POST", "/api/v1/leads/{id}/reserve"), AlreadyReserved)
    assert body["title"] != AlreadyReserved.title  # translated; the code never is


# --- request and answer fields -------------------------------------------------------------------------------

_FIELD = re.compile(r"^\s*([a-z_]+)(\?)?")


def top_level_fields(text: str) -> dict[str, bool]:
    """The fields of the first `{...}` in `text`, each with whether API.md marks it optional (`name?`)."""
    start = text.find("{")
    if start < 0:
        return {}
    depth, end = 0, start
    while end < len(text):
        depth += {"{": 1, "[": 1, "}": -1, "]": -1}.get(text[end], 0)
        if depth == 0:
            break
        end += 1
    parts, depth, current = [], 0, ""
    for char in text[start + 1 : end]:
        depth += {"{": 1, "[": 1, "}": -1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    found = {}
    for part in parts:
        match = _FIELD.match(part)
        if match:
            found[match.group(1)] = bool(match.group(2))
    return found


def request_fields(calls: dict[tuple[str, str], Call], call: Call) -> dict[str, bool]:
    """The body API.md gives a call: the `{...}` before its arrow; "same body" is the POST's of the same resource;
    a settings cell (`GET/PATCH /programs/{id}`) lists its fields in backticks."""
    before = call.answer.split("→")[0]
    if before.startswith("same body"):
        return request_fields(calls, calls["POST", call.path.rsplit("/", 1)[0]])
    if before.startswith("settings:"):
        return {name: True for name in re.findall(r"`([a-z_]+)`", before.split("—")[0])}
    return top_level_fields(before)


def answer_fields(call: Call) -> dict[str, bool]:
    after = call.answer.split("→", 1)[1] if "→" in call.answer else ""
    if call.answer.startswith("settings:"):
        return request_fields({}, call)
    return top_level_fields(after.split(";")[0])


def _schema(spec: dict[str, Any], ref: dict[str, Any] | None) -> dict[str, Any]:
    assert ref is not None and "$ref" in ref, ref
    found: dict[str, Any] = spec["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
    return found


def test_request_and_answer_fields_are_read_as_written(api_md: str) -> None:
    calls = documented_calls(api_md)
    lead = request_fields(calls, calls["POST", "/api/v1/leads"])
    assert lead["contact"] is False and lead["estimated_value"] is True and lead["temperature"] is False
    assert "name" not in lead  # contact's own fields are not the lead's
    assert request_fields(calls, calls["PUT", "/api/v1/rules/{id}"]) == request_fields(
        calls, calls["POST", "/api/v1/rules"]
    )
    assert "matching_weights" in request_fields(calls, calls["PATCH", "/api/v1/programs/{id}"])
    assert set(answer_fields(calls["POST", "/api/v1/redemptions"])) == {"id", "status", "points"}
    assert answer_fields(calls["POST", "/api/v1/leads/{id}/qualify"]) == {"status": False}


@SQLITE_ONLY
async def test_every_documented_request_field_is_in_the_served_body(api_md: str, spec: dict[str, Any]) -> None:
    """Each field API.md names in a body is a property of the served request body; the server requires no field
    API.md leaves out or marks optional (it may take more, and may leave a documented field optional)."""
    calls = documented_calls(api_md)
    served = served_calls(spec)
    wrong = []
    for key, call in calls.items():
        if key not in served or key[0] == "GET":
            continue
        documented = request_fields(calls, call)
        body = served[key].get("requestBody")
        if not documented:
            # An optional body is something more the server takes (qualify's checklist); a required one is not.
            assert body is None or not body.get("required", True) or "multipart" in call.answer, key
            continue
        assert body is not None, key
        schema = _schema(spec, body["content"]["application/json"]["schema"])
        properties, required = set(schema["properties"]), set(schema.get("required", []))
        wrong += [(key, "missing", name) for name in documented if name not in properties]
        wrong += [(key, "required", name) for name in required if documented.get(name, True)]
    assert not wrong


@SQLITE_ONLY
async def test_every_documented_answer_field_is_in_the_served_answer(api_md: str, spec: dict[str, Any]) -> None:
    """Where the served document describes an answer, it has every field API.md's answer names."""
    served = served_calls(spec)
    wrong = []
    for key, call in documented_calls(api_md).items():
        operation = served.get(key)
        if operation is None:
            continue
        success = next(status for status in operation["responses"] if int(status) < 400)
        content = operation["responses"][success]["content"]
        if "application/json" not in content:
            continue
        schema = _schema(spec, content["application/json"]["schema"])
        documented = answer_fields(call)
        if "items" in schema["properties"] and "items" not in documented:  # API.md describes a list's item
            schema = _schema(spec, schema["properties"]["items"]["items"])
        wrong += [(key, name) for name in documented if name not in schema["properties"]]
    assert not wrong


@SQLITE_ONLY
async def test_every_reference_of_the_document_resolves(spec: dict[str, Any]) -> None:
    """Two models of one name (engagement's and points' PointsOut) once left a call pointing at no schema."""
    names = set(spec["components"]["schemas"])
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(spec)))
    assert refs and not refs - names


async def test_every_documented_list_answers_items_and_next_cursor(db: Database, http: httpx.AsyncClient) -> None:
    world = await make_program(db)
    org = await make_member(db, world)
    program = f"?program_id={world.program_id}"
    for path in ("/leads", f"/points/transfers?org_id={org}&", "/rewards", "/redemptions", "/achievements"):
        answer = await http.get(f"/api/v1{path}{program}".replace("&?", "&"), headers=world.admin.auth)
        assert answer.status_code == 200, (path, answer.text)
        assert {"items", "next_cursor"} <= set(answer.json()), path
