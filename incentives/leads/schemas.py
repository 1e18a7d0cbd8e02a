"""Lead input: validated the same way for the API, the web form and the CSV import."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import phonenumbers
from pydantic import AfterValidator, Field, StringConstraints

from incentives.errors import N_, FieldError, ValidationFailed
from incentives.leads.services import LeadInput
from incentives.validation import Country, Email, Label, MoneyInput, Name, Strict

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
# An amount in EUR: {"amount": "12500.00", "currency": "EUR"} or "12500.00" (see MoneyInput).
Money = Annotated[
    Decimal, Field(ge=0, le=Decimal("1000000000"), max_digits=14, decimal_places=2, strict=False), MoneyInput()
]


def normalize_phone(value: str, country: str) -> str:
    """E.164, validated by libphonenumber against the lead's country."""
    try:
        number = phonenumbers.parse(value, country)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(N_("Not a valid phone number.")) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError(N_("Not a valid phone number."))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _postal(value: str) -> str:
    value = value.strip().upper()
    if not value.replace(" ", "").replace("-", "").isalnum() or len(value) > 12:
        raise ValueError(N_("Not a valid postal code."))
    return value


class ContactIn(Strict):
    name: Name
    email: Email
    phone: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=40)] | None = None


class LeadIn(Strict):
    program_id: int
    external_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = None
    company: Name
    contact: ContactIn
    country: Country
    postal_code: Annotated[str, AfterValidator(_postal)] | None = None
    city: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] | None = None
    lat: Annotated[float, Field(ge=-90, le=90, strict=False)] | None = None
    lon: Annotated[float, Field(ge=-180, le=180, strict=False)] | None = None
    industry: Short | None = None
    product_line: Short
    temperature: Literal["hot", "warm", "cold"]
    estimated_value: Money | None = None
    required_certifications: Annotated[list[Label], Field(max_length=20, default_factory=list)]
    notes: Text | None = None
    source: Short | None = None

    def to_input(self) -> LeadInput:
        """The service's input; the phone number is checked against the lead's country here."""
        phone = None
        if self.contact.phone is not None:
            try:
                phone = normalize_phone(self.contact.phone, self.country)
            except ValueError as exc:
                raise ValidationFailed([FieldError(("contact", "phone"), str(exc))]) from exc
        return LeadInput(
            program_id=self.program_id,
            company=self.company,
            contact_name=self.contact.name,
            contact_email=self.contact.email,
            contact_phone=phone,
            country=self.country,
            product_line=self.product_line,
            temperature=self.temperature,
            external_id=self.external_id,
            postal_code=self.postal_code,
            city=self.city,
            lat=self.lat,
            lon=self.lon,
            industry=self.industry,
            estimated_value=self.estimated_value,
            required_certifications=list(self.required_certifications),
            notes=self.notes,
            source=self.source,
        )


class FeedbackIn(Strict):
    status: Literal["contacted", "meeting", "proposal", "won", "lost", "not_reachable"]
    note: Text | None = None
    deal_value: Money | None = None
    lost_reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class ReturnIn(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class CorrectionIn(Strict):
    status: Literal["contacted", "meeting", "proposal", "won", "lost", "not_reachable"]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    deal_value: Money | None = None
    lost_reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class InvalidIn(Strict):
    reason: Literal["fake", "duplicate", "no_need"]
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class QualifyIn(Strict):
    """Optional: the keys of the program's qualification checklist that were confirmed."""

    checklist: Annotated[list[Annotated[str, StringConstraints(max_length=40)]], Field(max_length=20)] | None = None


class ReofferIn(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
