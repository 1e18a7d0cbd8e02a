"""Request and response bodies of the program set-up API; they validate input and document it."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from incentives.errors import N_

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
Locale = Literal["de", "en"]
_REGION = re.compile(r"^[A-Z]{2}(-[0-9]{1,5})?$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def _email(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(N_("Not a valid e-mail address.")) from exc


def _country(value: str) -> str:
    value = value.strip().upper()
    if not _COUNTRY.match(value):
        raise ValueError(N_("Must be a two-letter country code such as DE."))
    return value


def _regions(values: list[str]) -> list[str]:
    cleaned = [value.strip().upper() for value in values]
    if any(not _REGION.match(value) for value in cleaned):
        raise ValueError(N_("Regions are country codes (DE) or a country and postal prefix (DE-80)."))
    return cleaned


Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(_email)]
Country = Annotated[str, AfterValidator(_country)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ProgramSettingsPatch(Strict):
    escalation_hours: Annotated[int, Field(ge=1, le=720)] | None = None
    offer_wave_size: Annotated[int, Field(ge=1, le=100)] | None = None
    max_waves: Annotated[int, Field(ge=1, le=20)] | None = None
    feedback_due_hours: Annotated[int, Field(ge=1, le=720)] | None = None
    max_overdue_leads: Annotated[int, Field(ge=0, le=1000)] | None = None
    points_expiry_months: Annotated[int, Field(ge=1, le=120)] | None = None
    default_locale: Locale | None = None


class ProgramOut(BaseModel):
    id: int
    name: str
    manufacturer_id: int | None
    escalation_hours: int
    offer_wave_size: int
    max_waves: int
    feedback_due_hours: int
    max_overdue_leads: int
    points_expiry_months: int
    default_locale: Locale


class OrgIn(Strict):
    name: Name
    kind: Literal["reseller", "distributor", "agency"]
    country: Country
    city: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] | None = None
    lat: Annotated[float, Field(ge=-90, le=90, strict=False)] | None = None
    lon: Annotated[float, Field(ge=-180, le=180, strict=False)] | None = None


class OrgOut(BaseModel):
    id: int
    name: str
    kind: str
    country: str
    city: str | None
    lat: float | None
    lon: float | None


class MembershipIn(Strict):
    program_id: int
    org_id: int
    tier: Literal["platinum", "gold", "silver", "registered"]
    competencies: Annotated[list[Label], Field(max_length=50)] = []
    certifications: Annotated[list[Label], Field(max_length=50)] = []
    regions: Annotated[list[str], Field(max_length=200), AfterValidator(_regions)] = []
    capacity: Annotated[int, Field(ge=0, le=100_000)] | None = None
    distributor_id: int | None = None


class MembershipOut(BaseModel):
    id: int
    program_id: int
    org_id: int
    tier: str
    competencies: list[str]
    certifications: list[str]
    regions: list[str]
    capacity: int | None
    distributor_id: int | None


class UserIn(Strict):
    email: Email
    name: Name
    org_id: int
    role: Literal["admin", "partner_manager", "agency", "distributor_manager", "reseller_manager", "reseller_rep"]
    locale: Locale | None = None
    password: Annotated[str, StringConstraints(max_length=200)] | None = None


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    org_id: int
    role: str
    locale: Locale | None


class TokenIn(Strict):
    user_id: int


class TokenOut(BaseModel):
    token: str
    user_id: int
