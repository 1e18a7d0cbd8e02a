"""Request and response bodies of the program set-up API; they validate input and document it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from incentives.accounts.choices import MAX_CHOICES, check_choices
from incentives.accounts.levels import KEY, MAX_LEVELS, MAX_THRESHOLD, Level, check_levels
from incentives.accounts.qualification import KEY as CHECKLIST_KEY
from incentives.accounts.qualification import MAX_ITEMS as MAX_CHECKLIST
from incentives.accounts.qualification import check_checklist
from incentives.accounts.tokens import MAX_DAYS as MAX_TOKEN_DAYS
from incentives.validation import Country, Email, Label, Locale, Name, Patch, Strict, regions

__all__ = ["Country", "Email", "Label", "Name", "Strict"]


class Money(BaseModel):
    """Money in an answer (API.md): the amount as a decimal string with two places, and the currency."""

    amount: str
    currency: str = "EUR"


def money(amount: Decimal | None) -> Money | None:
    return None if amount is None else Money(amount=f"{amount:.2f}")


def money_json(amount: Decimal | None) -> dict[str, str] | None:
    found = money(amount)
    return None if found is None else found.model_dump()


class LevelName(Strict):
    de: Name
    en: Name


class LevelSetting(Strict):
    key: Annotated[str, StringConstraints(pattern=KEY.pattern)]
    name: LevelName
    threshold: Annotated[int, Field(ge=0, le=MAX_THRESHOLD)]


def _ladder(levels: list[LevelSetting]) -> list[LevelSetting]:
    check_levels([Level(item.key, item.name.de, item.name.en, item.threshold) for item in levels])
    return levels


Levels = Annotated[list[LevelSetting], Field(min_length=1, max_length=MAX_LEVELS), AfterValidator(_ladder)]


class ChecklistItem(Strict):
    key: Annotated[str, StringConstraints(pattern=CHECKLIST_KEY.pattern)]
    name: LevelName


def _checklist(items: list[ChecklistItem]) -> list[ChecklistItem]:
    check_checklist([item.model_dump() for item in items])
    return items


Checklist = Annotated[list[ChecklistItem], Field(max_length=MAX_CHECKLIST), AfterValidator(_checklist)]


def _choices(values: list[str]) -> list[str]:
    check_choices(values)
    return values


Choices = Annotated[list[Label], Field(max_length=MAX_CHOICES), AfterValidator(_choices)]


Weight = Annotated[float, Field(ge=0, le=100, strict=False)]


class MatchingWeights(Strict):
    """The weights of the matching score's parts; a part left out keeps its weight."""

    competence: Weight | None = None
    tier: Weight | None = None
    conversion: Weight | None = None
    proximity: Weight | None = None
    capacity: Weight | None = None
    fairness: Weight | None = None


class MatchingWeightsOut(BaseModel):
    competence: float
    tier: float
    conversion: float
    proximity: float
    capacity: float
    fairness: float


class ProgramSettingsPatch(Patch):
    escalation_hours: Annotated[int, Field(ge=1, le=720)] | None = None
    offer_wave_size: Annotated[int, Field(ge=1, le=100)] | None = None
    max_waves: Annotated[int, Field(ge=1, le=20)] | None = None
    feedback_due_hours: Annotated[int, Field(ge=1, le=720)] | None = None
    max_overdue_leads: Annotated[int, Field(ge=0, le=1000)] | None = None
    points_expiry_months: Annotated[int, Field(ge=1, le=120)] | None = None
    default_locale: Locale | None = None
    # Points earned over the last 12 months; names in both languages; the first level starts at 0.
    levels: Levels | None = None
    matching_weights: MatchingWeights | None = None
    # soft: free capacity is a part of the score; hard: a partner at its capacity is not offered leads
    capacity_mode: Literal["hard", "soft"] | None = None
    # What a manager confirms when qualifying a lead: [{key, name: {de, en}}]
    qualification_checklist: Checklist | None = None
    product_lines: Choices | None = Field(
        None,
        description="The product lines leads choose from (partners match them by their competencies). Once set (not "
        "empty), a lead with another product line is refused with 422 (case is ignored; the lead is stored with the "
        "list's spelling); an empty list accepts any value.",
    )
    industries: Choices | None = Field(
        None,
        description="The industries leads choose from. Once set (not empty), a lead with another industry is "
        "refused with 422 (case is ignored); an empty list accepts any value.",
    )


class LevelNameOut(BaseModel):
    de: str
    en: str


class LevelOut(BaseModel):
    key: str
    name: LevelNameOut
    threshold: int


class LevelNameItemOut(BaseModel):
    key: str
    name: LevelNameOut


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
    levels: list[LevelOut]
    matching_weights: MatchingWeightsOut
    capacity_mode: Literal["hard", "soft"]
    qualification_checklist: list[LevelNameItemOut]
    product_lines: list[str] = Field(description="Leads choose from these; empty: any value.")
    industries: list[str] = Field(description="Leads choose from these; empty: any value.")


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
    competencies: Annotated[list[Label], Field(max_length=50, default_factory=list)]
    certifications: Annotated[list[Label], Field(max_length=50, default_factory=list)]
    regions: Annotated[list[str], Field(max_length=200, default_factory=list), AfterValidator(regions)]
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


class UserStatusOut(BaseModel):
    id: int
    active: bool


class TokenIn(Strict):
    user_id: int
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = None
    # None: the token never expires (the default, as before expiry existed).
    expires_in_days: Annotated[int, Field(ge=1, le=MAX_TOKEN_DAYS)] | None = None


class TokenOut(BaseModel):
    token: str
    user_id: int
    expires_at: dt.datetime | None = None
