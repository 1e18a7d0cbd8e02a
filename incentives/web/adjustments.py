"""Manual point adjustments by admins: add or take back points for a partner, with a reason, audited."""

from __future__ import annotations

import hashlib
import uuid

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives import i18n
from incentives.accounts import queries as accounts
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.errors import N_, DomainError, FieldError, NotFound, ValidationFailed
from incentives.ledger.book import Cause
from incentives.ledger.errors import InsufficientPoints
from incentives.rewards import queries
from incentives.rules import payouts
from incentives.web import nav
from incentives.web.context import current_db, current_principal
from incentives.web.forms import form_errors
from incentives.web.rules import CSS
from incentives.web.templating import render, see_other

nav.register("/points/adjustments", N_("Point adjustments"), {Role.ADMIN}, order=34, more_for={Role.ADMIN})

MAX_ADJUSTMENT = 1_000_000_000
RECENT = 50
FIELDS = ("org_id", "direction", "points", "reason", "key")


def _admin(request: Request) -> Principal:
    """Admins of their program only; everybody else finds nothing here (as in the API, adjusting is an admin's)."""
    who = current_principal(request)
    if who.role is not Role.ADMIN or who.program_id is None:
        raise NotFound()
    return who


def _parse(values: dict[str, str], partners: list[tuple[int, str]], locale: str) -> tuple[int, int, str]:
    """(org id, signed points, reason) from the form, or every problem at once."""
    errors: list[FieldError] = []
    org_id = int(values["org_id"]) if values["org_id"].isascii() and values["org_id"].isdigit() else 0
    if org_id not in {pid for pid, _ in partners}:
        errors.append(FieldError(("org_id",), N_("Please choose a partner.")))
    try:
        number = i18n.parse_number(values["points"], locale)
    except ValueError:
        number = None
    points = int(number) if number is not None and number == int(number) and number >= 0 else -1
    if points == 0:
        errors.append(FieldError(("points",), N_("Must be a whole number of points other than zero.")))
    elif not 0 < points <= MAX_ADJUSTMENT:
        errors.append(FieldError(("points",), N_("Please enter whole points between 1 and 1,000,000,000.")))
    if not values["reason"]:
        errors.append(FieldError(("reason",), N_("Please give a reason: it is kept with the adjustment.")))
    elif len(values["reason"]) > 500:
        errors.append(FieldError(("reason",), N_("Must be at most %(le)s characters."), le=500))
    if errors:
        raise ValidationFailed(errors)
    return org_id, -points if values["direction"] == "subtract" else points, values["reason"]


async def adjustments_page(request: Request) -> Response:
    """GET: the form and the latest adjustments. POST: book one; a double submit replays the first booking,
    because the ledger's key derives from the key the form was rendered with."""
    who = _admin(request)
    assert who.program_id is not None
    db = current_db(request)
    async with db.reader() as session:
        partners = await accounts.program_partners(session, who.program_id)
    values = {"direction": "add", "key": uuid.uuid4().hex}
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = await request.form()
        values = {name: str(form.get(name, "")).strip() for name in FIELDS}
        try:
            org_id, points, reason = _parse(values, partners, request.state.locale)
            if not values["key"]:
                values["key"] = uuid.uuid4().hex
            digest = hashlib.sha256(values["key"].encode()).hexdigest()
            async with db.transaction() as session:
                transfer = await payouts.adjust(
                    session,
                    program_id=who.program_id,
                    org_id=org_id,
                    points=points,
                    key=f"web:{who.user_id}:{digest}",
                    cause=Cause(user_id=who.user_id, reason=reason),
                )
            return see_other(f"/points/adjustments?saved={transfer.id}")
        except InsufficientPoints as error:
            errors = {"points": form_errors(request, error)[""]}  # said where the points were typed
        except DomainError as error:
            errors = form_errors(request, error)
    async with db.reader() as session:
        recent = await queries.recent_adjustments(session, who.program_id, RECENT)
    context = {
        "partners": partners,
        "values": values,
        "errors": errors,
        "recent": recent,
        "saved": request.query_params.get("saved"),
        "css": CSS,
    }
    return render(request, "rules/adjustments.html", context, status_code=422 if errors else 200)


routes = [Route("/points/adjustments", adjustments_page, methods=["GET", "POST"])]
