"""Validated input types shared by the API, the web forms and imports: e-mail, country, region, names, money."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
    ValidationError,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from incentives.errors import N_, FieldError

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


def regions(values: list[str]) -> list[str]:
    cleaned = [value.strip().upper() for value in values]
    if any(not _REGION.match(value) for value in cleaned):
        raise ValueError(N_("Regions are country codes (DE) or a country and postal prefix (DE-80)."))
    return cleaned


Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(_email)]
Country = Annotated[str, AfterValidator(_country)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Patch(Strict):
    """A partial update: a field left out stays as it is; null is refused (the settings are NOT NULL)."""

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError(N_("Must not be null."))
        return value


CURRENCY = "EUR"
# The two forms of a money input; pydantic puts the form in an error's location, field_errors_from_pydantic
# takes it out again, so that a wrong currency is reported at `estimated_value.currency`.
_MONEY_OBJECT, _MONEY_AMOUNT = "money:object", "money:amount"


def _money_form(value: Any) -> str:
    return _MONEY_OBJECT if isinstance(value, dict) else _MONEY_AMOUNT


def _money_amount(value: Any) -> Any:
    return value["amount"] if isinstance(value, dict) else value


class MoneyInput:
    """Money in a request, as API.md writes it — `{"amount": "1234.50", "currency": "EUR"}` — or, as a
    convenience, the amount alone ("1234.50"). The field holds the amount, checked by the annotations before
    this one in either form: `Annotated[Decimal, Field(ge=0), MoneyInput()]`. Only EUR is accepted.
    """

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        amount = handler(source)
        money = core_schema.typed_dict_schema(
            {
                "amount": core_schema.typed_dict_field(amount),
                "currency": core_schema.typed_dict_field(core_schema.literal_schema([CURRENCY])),
            },
            extra_behavior="forbid",
        )
        either = core_schema.tagged_union_schema({_MONEY_OBJECT: money, _MONEY_AMOUNT: amount}, _money_form)
        return core_schema.no_info_after_validator_function(_money_amount, either)

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        document = handler(schema)
        money, bare = document["oneOf"]
        money["title"] = "Money"
        money["properties"]["amount"]["examples"] = ["1234.50"]
        bare["description"] = "The amount alone, in EUR (a convenience)."
        bare["examples"] = ["1234.50"]
        return {
            **document,
            "description": 'Money: {"amount": "1234.50", "currency": "EUR"} (a decimal string; only EUR), '
            "or the amount alone.",
        }


# pydantic error types → our translatable messages; anything unlisted reads "Invalid value."
_PYDANTIC_MESSAGES = {
    "missing": N_("This field is required."),
    "extra_forbidden": N_("Unknown field."),
    "string_type": N_("Must be a string."),
    "int_type": N_("Must be an integer."),
    "int_parsing": N_("Must be an integer."),
    "int_from_float": N_("Must be an integer."),
    "float_type": N_("Must be a number."),
    "float_parsing": N_("Must be a number."),
    "bool_type": N_("Must be true or false."),
    "bool_parsing": N_("Must be true or false."),
    "list_type": N_("Must be a list."),
    "dict_type": N_("Must be an object."),
    "model_type": N_("Must be an object."),
    "model_attributes_type": N_("Must be an object."),
    "literal_error": N_("Must be one of: %(expected)s."),
    "enum": N_("Must be one of: %(expected)s."),
    "string_too_short": N_("Must not be empty."),
    "string_too_long": N_("Must be at most %(max_length)s characters long."),
    "too_long": N_("Must have at most %(max_length)s entries."),
    "too_short": N_("Must have at least %(min_length)s entries."),
    "greater_than_equal": N_("Must be at least %(ge)s."),
    "less_than_equal": N_("Must be at most %(le)s."),
    "greater_than": N_("Must be greater than %(gt)s."),
    "less_than": N_("Must be less than %(lt)s."),
    "string_pattern_mismatch": N_("Has the wrong format."),
    "decimal_type": N_("Must be an amount such as 1250.00."),
    "decimal_parsing": N_("Must be an amount such as 1250.00."),
    "decimal_max_places": N_("Must have at most %(decimal_places)s decimal places."),
    "decimal_max_digits": N_("Must have at most %(max_digits)s digits."),
    "decimal_whole_digits": N_("Must have at most %(whole_digits)s digits before the decimal point."),
    "value_error": N_("Invalid value."),
}


def field_errors_from_pydantic(exc: ValidationError) -> list[FieldError]:
    errors = []
    for error in exc.errors(include_url=False):
        kind = error["type"]
        ctx = {key: str(value) for key, value in (error.get("ctx") or {}).items()}
        loc = tuple(part for part in error["loc"] if part not in (_MONEY_OBJECT, _MONEY_AMOUNT))
        if kind == "value_error" and "error" in ctx:
            # Our own validators raise ValueError with an N_() message id (see web/api/schemas.py).
            errors.append(FieldError(loc, ctx["error"]))
            continue
        errors.append(FieldError(loc, _PYDANTIC_MESSAGES.get(kind, N_("Invalid value.")), **ctx))
    return errors
