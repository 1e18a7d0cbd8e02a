"""The partner forms read as the API's bodies (OrgIn, MembershipIn, UserIn) and validated by the same models:
every problem at once, by form field, with the values kept as typed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from incentives import i18n
from incentives.accounts.roles import ORG_KIND_OF_ROLE, PARTNER_ROLES, Role
from incentives.errors import N_, FieldError, ValidationFailed
from incentives.validation import field_errors_from_pydantic
from incentives.web.api.schemas import MembershipIn, OrgIn, UserIn

ORG_FIELDS = ("name", "kind", "country")
TERM_FIELDS = ("tier", "certifications", "regions", "capacity", "distributor_id")
USER_FIELDS = ("email", "name", "role", "locale")
PARTNER_KINDS = ("reseller", "distributor")
ROLE_LABELS = {
    Role.RESELLER_MANAGER: N_("Reseller manager"),
    Role.RESELLER_REP: N_("Sales rep"),
    Role.DISTRIBUTOR_MANAGER: N_("Distributor manager"),
}


def roles_for(kind: str) -> list[Role]:
    """The partner roles a user of an org of this kind may have."""
    return [role for role in ROLE_LABELS if role in PARTNER_ROLES and ORG_KIND_OF_ROLE[role] == kind]


def split_list(text: str) -> list[str]:
    """A list typed as "DE-80, DE-81" (commas, semicolons or new lines between the values)."""
    return [part.strip() for part in text.replace(";", ",").replace("\n", ",").split(",") if part.strip()]


def form_values(form: FormData, names: Sequence[str]) -> dict[str, Any]:
    values: dict[str, Any] = {name: str(form.get(name, "")).strip() for name in names}
    values["competencies"] = [str(value).strip() for value in form.getlist("competencies") if str(value).strip()]
    return values


def terms_values(membership: Any) -> dict[str, Any]:
    """A membership's terms as the form shows them."""
    return {
        "tier": membership.tier,
        "competencies": list(membership.competencies),
        "certifications": ", ".join(membership.certifications),
        "regions": ", ".join(membership.regions),
        "capacity": "" if membership.capacity is None else str(membership.capacity),
        "distributor_id": "" if membership.distributor_id is None else str(membership.distributor_id),
    }


def _integer(text: str, locale: str) -> Any:
    """A form's whole number in the reader's format ("1.200" in German); text that is none stays, to be refused."""
    plain = i18n.plain_number(text, locale)
    if not plain:
        return None
    try:
        return int(plain)
    except ValueError:
        return plain


def parse_terms(
    values: dict[str, Any], *, program_id: int, org_id: int, product_lines: Sequence[str], locale: str
) -> dict[str, Any]:
    """The membership's fields, validated as POST /api/v1/memberships validates them; competencies from the
    program's product lines where it has a list (chosen), else typed."""
    competencies = values["competencies"]
    if not product_lines and len(competencies) == 1:
        competencies = split_list(competencies[0])
    body = {
        "program_id": program_id,
        "org_id": org_id,
        "tier": values.get("tier", ""),
        "competencies": competencies,
        "certifications": split_list(values.get("certifications", "")),
        "regions": split_list(values.get("regions", "")),
        "capacity": _integer(values.get("capacity", ""), locale),
        "distributor_id": int(values["distributor_id"]) if values.get("distributor_id", "").isdigit() else None,
    }
    errors: list[FieldError] = []
    unknown = [line for line in competencies if product_lines and line not in product_lines]
    if unknown:
        message = N_("“%(value)s” is not one of the program's product lines.")
        errors.append(FieldError(("competencies",), message, value=unknown[0]))
    try:
        terms = MembershipIn.model_validate(body).model_dump()
    except ValidationError as exc:
        errors.extend(field_errors_from_pydantic(exc))
    if errors:
        raise ValidationFailed(errors)
    return {key: value for key, value in terms.items() if key not in ("program_id", "org_id")}


def parse_org(values: dict[str, Any]) -> dict[str, Any]:
    """The org's fields as POST /api/v1/orgs validates them; only resellers and distributors become partners."""
    body = {name: values.get(name, "") for name in ORG_FIELDS}
    errors: list[FieldError] = []
    if body["kind"] not in PARTNER_KINDS:
        errors.append(FieldError(("kind",), N_("Please choose a reseller or a distributor.")))
    try:
        org = OrgIn.model_validate(body).model_dump(exclude_none=True)
    except ValidationError as exc:
        errors.extend(field_errors_from_pydantic(exc))
    if errors:
        raise ValidationFailed(errors)
    return org


def parse_partner(
    values: dict[str, Any], program_id: int, product_lines: Sequence[str], locale: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new partner's org and terms, every problem of both at once."""
    errors: list[FieldError] = []
    org: dict[str, Any] = {}
    terms: dict[str, Any] = {}
    try:
        org = parse_org(values)
    except ValidationFailed as failed:
        errors.extend(failed.errors)
    try:
        terms = parse_terms(values, program_id=program_id, org_id=0, product_lines=product_lines, locale=locale)
    except ValidationFailed as failed:
        errors.extend(failed.errors)
    if errors:
        raise ValidationFailed(errors)
    return org, terms


def parse_user(values: dict[str, Any], *, org_id: int, kind: str) -> dict[str, Any]:
    """A new user's fields as POST /api/v1/users validates them, with a role the org's kind allows."""
    body = {"org_id": org_id, **{name: values.get(name, "") for name in USER_FIELDS}}
    errors: list[FieldError] = []
    if body["role"] not in roles_for(kind):  # said so, rather than as the API's list of every role
        errors.append(FieldError(("role",), N_("This role does not fit the kind of the org.")))
    try:
        user = UserIn.model_validate(body).model_dump()
    except ValidationError as exc:
        errors.extend(error for error in field_errors_from_pydantic(exc) if error.loc[:1] != ("role",))
    if errors:
        raise ValidationFailed(errors)
    return {key: value for key, value in user.items() if key not in ("org_id", "password")}
