"""Lead pages for the program side: the managers' list with overdue partners, offering a lead again, and
entering leads (the form and the CSV import) for agencies and partner managers."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives import i18n
from incentives.accounts.choices import program_choices
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.db import utcnow
from incentives.errors import N_, DomainError, NotFound
from incentives.leads import corrections, importer, listing, queries, services
from incentives.leads.schemas import LeadIn
from incentives.validation import field_errors_from_pydantic
from incentives.web import nav
from incentives.web.context import current_db, current_principal
from incentives.web.forms import field_messages, form_errors
from incentives.web.leads import LABELS, STATUS_LABELS, deal_value_of, render_detail
from incentives.web.templating import render, see_other

nav.register("/leads", N_("Leads"), {Role.ADMIN, Role.PARTNER_MANAGER, Role.AGENCY}, order=10)
nav.register("/leads/new", N_("New lead"), {Role.ADMIN, Role.PARTNER_MANAGER, Role.AGENCY}, order=11)


SORT_LABELS = {
    "newest": N_("newest first"),
    "oldest": N_("oldest first"),
    "company": N_("company"),
    "status": N_("status"),
    "wave": N_("offer wave"),
    "value": N_("estimated value"),
}


def _small_int(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isascii() and raw.isdigit() and len(raw) < 7 else None


async def manager_list(request: Request) -> Response:
    """Search, filter, sort and page the program's leads; an htmx request gets the list alone."""
    who = current_principal(request)
    if not who.acts_for_program:
        raise NotFound()
    assert who.program_id is not None
    params = request.query_params
    status = params.get("status") or None
    wanted = listing.LeadFilter(
        search=params.get("q", ""),
        status=status if status in STATUS_LABELS else None,
        wave=_small_int(params.get("wave")),
        product_line=params.get("product_line") or None,
        partner_id=_small_int(params.get("partner")),
        sort=params.get("sort", "newest") if params.get("sort") in SORT_LABELS else "newest",
        page=_small_int(params.get("page")) or 1,
    )
    now = utcnow()
    async with current_db(request).reader() as session:
        overview = await queries.program_leads(session, who.program_id, now)
        found = await listing.list_leads(session, who.program_id, wanted)
    query = {
        key: value
        for key, value in (
            ("q", wanted.search),
            ("status", wanted.status),
            ("wave", wanted.wave),
            ("product_line", wanted.product_line),
            ("partner", wanted.partner_id),
            ("sort", wanted.sort if wanted.sort != "newest" else None),
        )
        if value not in (None, "")
    }
    return render(
        request,
        "leads/manage.html",
        {
            "found": found,
            "wanted": wanted,
            "query": query,
            "sorts": SORT_LABELS,
            "overdue": overview.overdue,
            "counts": overview.counts,
            "now": now,
            **LABELS,
        },
        block="leads",
    )


async def manager_reoffer(request: Request) -> Response:
    who = current_principal(request)
    lead_id = int(request.path_params["id"])
    form = await request.form()
    async with current_db(request).transaction() as session:
        await services.reoffer_lead(session, who, lead_id, str(form.get("reason", "")).strip() or "—")
    return see_other(f"/leads/{lead_id}")


async def manager_correct(request: Request) -> Response:
    who = current_principal(request)
    lead_id = int(request.path_params["id"])
    form = await request.form()
    try:
        async with current_db(request).transaction() as session:
            await corrections.correct_status(
                session,
                who,
                lead_id,
                status=str(form.get("status", "")),
                reason=str(form.get("reason", "")),
                deal_value=deal_value_of(str(form.get("deal_value", "")), request.state.locale),
                lost_reason=str(form.get("lost_reason", "")) or None,
            )
    except NotFound:
        raise
    except DomainError as error:
        return await render_detail(request, lead_id, error)
    return see_other(f"/leads/{lead_id}")


async def manager_invalidate(request: Request) -> Response:
    who = current_principal(request)
    lead_id = int(request.path_params["id"])
    form = await request.form()
    try:
        async with current_db(request).transaction() as session:
            await corrections.mark_invalid(
                session, who, lead_id, reason=str(form.get("reason", "")), note=str(form.get("note", "")) or None
            )
    except NotFound:
        raise
    except DomainError as error:
        return await render_detail(request, lead_id, error)
    return see_other(f"/leads/{lead_id}")


async def manager_qualify(request: Request) -> Response:
    """Qualify a new lead with the program's checklist ticked as confirmed; "qualify and offer" offers it too."""
    who = _entry(request)
    lead_id = int(request.path_params["id"])
    form = await request.form()
    checked = [str(value) for value in form.getlist("checklist")]
    async with current_db(request).transaction() as session:
        await services.qualify_lead(session, who, lead_id, checked=checked)
    if form.get("offer") and who.role in services.MANAGERS:
        async with current_db(request).transaction() as session:
            await services.offer_lead(session, who, lead_id)
    return see_other(f"/leads/{lead_id}")


async def manager_offer(request: Request) -> Response:
    who = current_principal(request)
    if who.role not in services.MANAGERS:
        raise NotFound()  # the page has no such action for them
    lead_id = int(request.path_params["id"])
    async with current_db(request).transaction() as session:
        await services.offer_lead(session, who, lead_id)
    return see_other(f"/leads/{lead_id}")


FORM_FIELDS = (
    "company",
    "contact_name",
    "contact_email",
    "contact_phone",
    "country",
    "postal_code",
    "city",
    "industry",
    "product_line",
    "temperature",
    "estimated_value",
    "required_certifications",
    "notes",
    "external_id",
    "source",
)


def _entry(request: Request) -> Principal:
    who = current_principal(request)
    if who.role not in services.LEAD_ENTRY:
        raise NotFound()
    return who


async def new_lead(request: Request) -> Response:
    """The lead entry form for agencies and partner managers; the same validation as the API and the import."""
    who = _entry(request)
    assert who.program_id is not None
    values: dict[str, str] = {"country": "DE", "temperature": "warm"}
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = await request.form()
        values = {name: str(form.get(name, "")).strip() for name in FORM_FIELDS}
        try:
            typed = {**values, "estimated_value": i18n.plain_number(values["estimated_value"], request.state.locale)}
            lead_in = LeadIn.model_validate(importer.body_from_row(who.program_id, typed))
            async with current_db(request).transaction() as session:
                lead = await services.create_lead(session, who, lead_in.to_input())
            if form.get("distribute"):
                async with current_db(request).transaction() as session:
                    await services.qualify_lead(session, who, lead.id)
                if who.role in services.MANAGERS:
                    async with current_db(request).transaction() as session:
                        await services.offer_lead(session, who, lead.id)
            return see_other(f"/leads/{lead.id}")
        except ValidationError as exc:
            errors = field_messages(request, field_errors_from_pydantic(exc), _form_field)
        except DomainError as exc:
            errors = form_errors(request, exc, _form_field)
    async with current_db(request).reader() as session:
        choices = await program_choices(session, who.program_id)
    context = {"values": values, "errors": errors, "choices": choices, **LABELS}
    return render(request, "leads/new.html", context, status_code=422 if errors else 200)


def _form_field(loc: Sequence[str | int]) -> str:
    """The form field of an error location: contact.email is contact_email."""
    parts = [str(part) for part in loc]
    return "contact_" + parts[1] if parts[:1] == ["contact"] and len(parts) > 1 else parts[0] if parts else ""


async def import_csv(request: Request) -> Response:
    who = _entry(request)
    assert who.program_id is not None
    report = None
    error = None
    if request.method == "POST":
        async with request.form() as form:
            upload = form.get("file")
            raw = await upload.read() if isinstance(upload, UploadFile) and upload.filename else None
        if raw is None:
            error = N_("Please choose a CSV file.")
        else:
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = raw.decode("cp1252", errors="replace")  # Excel on Windows saves CSV this way
            report = await importer.import_leads(current_db(request), who, who.program_id, text)
    async with current_db(request).reader() as session:
        choices = await program_choices(session, who.program_id)
    return render(
        request,
        "leads/import.html",
        {"report": report, "error": error, "columns": FORM_FIELDS, "choices": choices},
        status_code=422 if error else 200,
    )


routes = [
    Route("/leads/new", new_lead, methods=["GET", "POST"]),
    Route("/leads/import", import_csv, methods=["GET", "POST"]),
    Route("/leads", manager_list),
    Route("/leads/{id:id}/reoffer", manager_reoffer, methods=["POST"]),
    Route("/leads/{id:id}/correct", manager_correct, methods=["POST"]),
    Route("/leads/{id:id}/invalidate", manager_invalidate, methods=["POST"]),
    Route("/leads/{id:id}/qualify", manager_qualify, methods=["POST"]),
    Route("/leads/{id:id}/offer", manager_offer, methods=["POST"]),
]
