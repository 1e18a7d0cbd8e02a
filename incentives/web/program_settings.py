"""The admins' program settings page (every setting of PATCH /api/v1/programs/{id}, validated by the same
schema, with a preview of the matching weights typed before saving them) and the API tokens page (create with a
name, see last use, revoke)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives import db as clock
from incentives import i18n
from incentives.accounts import services, tokens
from incentives.accounts.models import Program
from incentives.accounts.qualification import checklist_of
from incentives.accounts.roles import Role
from incentives.errors import N_, DomainError, NotFound
from incentives.leads import matching, matching_preview
from incentives.validation import field_errors_from_pydantic
from incentives.web import nav
from incentives.web.api.schemas import MatchingWeights, ProgramSettingsPatch
from incentives.web.context import current_db, current_principal
from incentives.web.forms import field_messages, form_errors
from incentives.web.templating import is_htmx, render, see_other

nav.register("/settings", N_("Settings"), {Role.ADMIN}, order=95, more_for={Role.ADMIN})
TOKEN_HOLDERS = {Role.PARTNER_MANAGER, Role.AGENCY, Role.DISTRIBUTOR_MANAGER, Role.RESELLER_MANAGER}
nav.register(
    "/tokens",
    N_("API tokens"),
    TOKEN_HOLDERS,
    order=96,
    more_for=TOKEN_HOLDERS,
)

INTEGERS = (
    "escalation_hours",
    "offer_wave_size",
    "max_waves",
    "feedback_due_hours",
    "max_overdue_leads",
    "points_expiry_months",
)
CHOICES = ("product_lines", "industries")  # one value a line in a text area
WEIGHTS = ("competence", "tier", "conversion", "proximity", "capacity", "fairness")
WEIGHT_LABELS = {
    "competence": N_("Competence"),
    "tier": N_("Tier"),
    "conversion": N_("Conversion"),
    "proximity": N_("Proximity"),
    "capacity": N_("Free capacity"),
    "fairness": N_("Fairness to smaller partners"),
}


def _number(raw: str, locale: str) -> Any:
    """A typed number in the reader's format as JSON would carry it; text that is none stays, for the schema
    to refuse with its message at the field."""
    try:
        value = i18n.parse_number(raw, locale)
    except ValueError:
        return raw
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def values_of(program: Program, locale: str) -> dict[str, str]:
    values = {name: str(getattr(program, name)) for name in INTEGERS}
    values["default_locale"] = program.default_locale
    values["capacity_mode"] = program.capacity_mode
    for part, weight in matching.weights_of(program).items():
        values[f"weight_{part}"] = i18n.format_number(weight, locale)
    for n, level in enumerate(program.levels):
        values |= {f"level_key_{n}": level["key"], f"level_threshold_{n}": str(level["threshold"])}
        values |= {f"level_de_{n}": level["name"]["de"], f"level_en_{n}": level["name"]["en"]}
    for name in CHOICES:
        values[name] = "\n".join(getattr(program, name) or [])
    for n, item in enumerate(checklist_of(program.qualification_checklist)):
        values |= {f"check_key_{n}": item["key"], f"check_de_{n}": item["name"]["de"]}
        values |= {f"check_en_{n}": item["name"]["en"]}
    return values


def _rows(values: Mapping[str, str], prefix: str, parts: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    """The filled rows of a repeated group (levels, checklist), with their row numbers; empty rows drop out."""
    rows = []
    for n in range(40):
        row = {part: values.get(f"{prefix}_{part}_{n}", "").strip() for part in parts}
        if any(row.values()):
            rows.append((n, row))
    return rows


def body_of(values: Mapping[str, str], locale: str) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """The PATCH body the form means, and each group's row numbers (to put an error back at its row)."""
    body: dict[str, Any] = {name: _number(values.get(name, ""), locale) for name in INTEGERS}
    body["default_locale"] = values.get("default_locale", "")
    body["capacity_mode"] = values.get("capacity_mode", "")
    body["matching_weights"] = {part: _number(values.get(f"weight_{part}", ""), locale) for part in WEIGHTS}
    levels = _rows(values, "level", ("key", "de", "en", "threshold"))
    body["levels"] = [
        {"key": r["key"], "name": {"de": r["de"], "en": r["en"]}, "threshold": _number(r["threshold"], locale)}
        for _, r in levels
    ]
    for name in CHOICES:
        body[name] = [line.strip() for line in values.get(name, "").splitlines() if line.strip()]
    checks = _rows(values, "check", ("key", "de", "en"))
    body["qualification_checklist"] = [{"key": r["key"], "name": {"de": r["de"], "en": r["en"]}} for _, r in checks]
    return body, {"levels": [n for n, _ in levels], "qualification_checklist": [n for n, _ in checks]}


def field_of(rows: Mapping[str, list[int]]) -> Any:
    def field(loc: Sequence[str | int]) -> str:
        parts = [str(p) for p in loc if p != "body"]
        if not parts:
            return ""
        if parts[0] == "matching_weights" and len(parts) > 1:
            return f"weight_{parts[1]}"
        if parts[0] in rows and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(rows[parts[0]]):
            prefix = "level" if parts[0] == "levels" else "check"
            part = {"name": parts[3] if len(parts) > 3 else "de"}.get(parts[2], parts[2]) if len(parts) > 2 else "key"
            return f"{prefix}_{part}_{rows[parts[0]][int(parts[1])]}"
        return parts[0]

    return field


def _admin(request: Request) -> Any:
    who = current_principal(request)
    if who.role is not Role.ADMIN or who.program_id is None:
        raise NotFound()
    return who


async def settings_page(request: Request) -> Response:
    who = _admin(request)
    locale: str = request.state.locale
    errors: dict[str, str] = {}
    async with current_db(request).reader() as session:
        program = await services.get_program(session, who, who.program_id)
    values = values_of(program, locale)
    if request.method == "POST":
        form = await request.form()
        values = {key: str(value) for key, value in form.items() if isinstance(value, str)}
        body, rows = body_of(values, locale)
        try:
            patch = ProgramSettingsPatch.model_validate(body)
            changes = patch.model_dump(exclude_unset=True)
            changes["matching_weights"] = (
                patch.matching_weights.model_dump(exclude_none=True) if patch.matching_weights else {}
            )
            async with current_db(request).transaction() as session:
                await services.update_program_settings(session, who, who.program_id, changes)
            return see_other("/settings?saved=1")
        except ValidationError as exc:
            errors = field_messages(request, field_errors_from_pydantic(exc), field_of(rows))
        except DomainError as exc:
            errors = form_errors(request, exc, field_of(rows))
    context = _context(values, errors) | {"saved": request.query_params.get("saved")}
    return render(request, "accounts/settings.html", context, status_code=422 if errors else 200)


def _context(values: Mapping[str, str], errors: Mapping[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "values": values,
        "errors": errors,
        "integers": INTEGERS,
        "weights": WEIGHT_LABELS,
        "level_rows": _row_numbers(values, "level"),
        "check_rows": _row_numbers(values, "check"),
        "preview": None,
        "previewed": False,
        **extra,
    }


async def weights_preview(request: Request) -> Response:
    """Who the last offered leads would have gone to under the weights typed, before saving them: the preview
    block for htmx, else the whole page with the form as typed. Saves nothing."""
    who = _admin(request)
    locale: str = request.state.locale
    form = await request.form()
    values = {key: str(value) for key, value in form.items() if isinstance(value, str)}
    body, _ = body_of(values, locale)
    errors: dict[str, str] = {}
    preview = None
    try:
        weights = MatchingWeights.model_validate(body["matching_weights"]).model_dump(exclude_none=True)
    except ValidationError as exc:
        errors = field_messages(request, field_errors_from_pydantic(exc), lambda loc: f"weight_{loc[-1]}")
    else:
        async with current_db(request).reader() as session:
            found = await matching_preview.preview(session, who, who.program_id, weights, clock.utcnow())
            preview = await matching_preview.named(session, found)
    context = _context(values, errors, preview=preview, previewed=True)
    block = "weights_preview" if is_htmx(request) else None
    return render(request, "accounts/settings.html", context, status_code=422 if errors else 200, block=block)


def _row_numbers(values: Mapping[str, str], prefix: str) -> list[int]:
    """The rows to show: every filled one and one empty row to add another."""
    filled = [n for n, _ in _rows(values, prefix, ("key", "de", "en", "threshold"))]
    return [*filled, (max(filled) + 1) if filled else 0]


def _token_days(choice: str) -> tuple[bool, int | None]:
    """Whether the page offers this lifetime, and it in days (None: "never")."""
    if choice == "never":
        return True, None
    if choice.isdigit() and int(choice) in tokens.PAGE_CHOICES:
        return True, int(choice)
    return False, None


async def tokens_page(request: Request) -> Response:
    who = current_principal(request)
    new_token: str | None = None
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    if request.method == "POST":
        form = await request.form()
        values = {
            "name": str(form.get("name", "")).strip(),
            "user_id": str(form.get("user_id", "")),
            "expires_in_days": str(form.get("expires_in_days", tokens.PAGE_DEFAULT_DAYS)),
        }
        user_id = int(values["user_id"]) if values["user_id"].isdigit() else who.user_id
        offered, days = _token_days(values["expires_in_days"])
        if not values["name"] or len(values["name"]) > 100:
            errors["name"] = i18n.gettext(request.state.locale, N_("Please name the token (at most 100 characters)."))
        elif not offered:
            errors["expires_in_days"] = i18n.gettext(request.state.locale, N_("Please choose when the token expires."))
        else:
            try:
                async with current_db(request).transaction() as session:
                    expires_at = tokens.expiry(days, clock.utcnow())
                    new_token = await services.create_token(
                        session, who, user_id=user_id, name=values["name"], expires_at=expires_at
                    )
                values = {}
            except DomainError as exc:
                errors = form_errors(request, exc)
    async with current_db(request).reader() as session:
        listed = await tokens.list_tokens(session, who)
        users = await tokens.token_users(session, who)
    context = {
        "tokens": listed,
        "new_token": new_token,
        "errors": errors,
        "values": values,
        "users": users,
        "choices": tokens.PAGE_CHOICES,
        "default_days": tokens.PAGE_DEFAULT_DAYS,
        "now": clock.utcnow(),
    }
    response = render(request, "accounts/tokens.html", context, status_code=422 if errors else 200)
    response.headers["Cache-Control"] = "no-store"  # a new token is shown once
    return response


async def revoke(request: Request) -> Response:
    who = current_principal(request)
    async with current_db(request).transaction() as session:
        await tokens.revoke_token(session, who, int(request.path_params["id"]))
    return see_other("/tokens")


routes = [
    Route("/settings", settings_page, methods=["GET", "POST"]),
    Route("/settings/matching-preview", weights_preview, methods=["POST"]),
    Route("/tokens", tokens_page, methods=["GET", "POST"]),
    Route("/tokens/{id:id}/revoke", revoke, methods=["POST"]),
]
