"""Catalog management pages: every item of the program with its stock, the item form (add, change), deactivate.

Admins of the program edit; partner managers see the list read-only; everybody else finds nothing (404).
The form is validated by the API's model, so both answer the same, translated at the field.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from incentives import i18n, idempotency
from incentives.accounts.roles import Role
from incentives.accounts.scope import Principal
from incentives.db import utcnow
from incentives.errors import N_, DomainError, FieldError, IdempotencyConflict, NotFound, ValidationFailed
from incentives.rewards import catalog, queries, services
from incentives.rewards.models import LimitPeriod, Reward
from incentives.rewards.scope import DECIDERS
from incentives.validation import field_errors_from_pydantic
from incentives.web import nav
from incentives.web.api.rewards import RewardFieldsIn, reward_fields
from incentives.web.context import current_db, current_principal
from incentives.web.forms import form_errors
from incentives.web.rewards_base import chosen_program, page_context
from incentives.web.templating import is_htmx, render, see_other

# Partner managers may only read the catalog: their entry says what it is, not "manage".
nav.register("/rewards/manage", N_("Manage catalog"), {Role.ADMIN}, order=42, more_for={Role.ADMIN})
nav.register("/rewards/manage", N_("Reward catalog"), DECIDERS - {Role.ADMIN}, order=42, more_for=DECIDERS)

TEXT_FIELDS = ("kind", "name_de", "name_en", "description_de", "description_en", "value", "percent", "limit_period")
NUMBER_FIELDS = ("points", "stock", "limit_per_period", "auto_approve_up_to")
DAY_FIELDS = ("valid_from", "valid_to")
PERIOD_LABELS = {
    LimitPeriod.MONTH: N_("per month"),
    LimitPeriod.QUARTER: N_("per quarter"),
    LimitPeriod.YEAR: N_("per year"),
}
LIMIT_LABELS = {
    LimitPeriod.MONTH: N_("%(count)s per month"),
    LimitPeriod.QUARTER: N_("%(count)s per quarter"),
    LimitPeriod.YEAR: N_("%(count)s per year"),
}
STATE_LABELS = {
    "active": N_("active"),
    "inactive": N_("inactive"),
    "expired": N_("no longer valid"),
    "upcoming": N_("not yet valid"),
    "sold_out": N_("out of stock"),
}
# The model's field paths → the form's field names.
FORM_NAMES: dict[tuple[str | int, ...], str] = {
    ("name", "de"): "name_de",
    ("name", "en"): "name_en",
    ("description", "de"): "description_de",
    ("description", "en"): "description_en",
}
_OTHER_FORM = IdempotencyConflict().detail  # the key was used with other values


def _zone() -> ZoneInfo:
    return ZoneInfo(i18n.TIMEZONE)


def state_of(reward: Reward, at: dt.datetime) -> str:
    if not reward.active:
        return "inactive"
    if reward.valid_to is not None and reward.valid_to <= at:
        return "expired"
    if reward.valid_from is not None and at < reward.valid_from:
        return "upcoming"
    if reward.stock is not None and reward.stock <= 0:
        return "sold_out"
    return "active"


def _admin(request: Request) -> Principal:
    """Only the program's admin edits its catalog; for anybody else the form does not exist."""
    who = current_principal(request)
    if who.role is not Role.ADMIN or who.program_id is None:
        raise NotFound()
    return who


# --- the list ------------------------------------------------------------------------------------------------


async def manage(request: Request) -> Response:
    principal = current_principal(request)
    if principal.role not in DECIDERS:
        raise NotFound()
    async with current_db(request).reader() as session:
        program_id, programs = await chosen_program(session, principal, request)
        rewards = await services.list_rewards(session, principal, program_id, include_inactive=True)
        counts = await queries.redeemed_units(session, [reward.id for reward in rewards])
    now = utcnow()
    return render(
        request,
        "rewards/manage.html",
        page_context(
            request,
            rewards=rewards,
            counts=counts,
            states={reward.id: state_of(reward, now) for reward in rewards},
            state_labels=STATE_LABELS,
            limits=LIMIT_LABELS,
            programs=programs,
            program_id=program_id,
            can_edit=principal.role is Role.ADMIN,
            saved=request.query_params.get("saved"),
            last_day=_last_day,
        ),
    )


async def deactivate(request: Request) -> Response:
    principal = _admin(request)
    reward_id = int(request.path_params["id"])
    async with current_db(request).transaction() as session:
        reward = await catalog.deactivate_reward(session, principal, reward_id)  # a repeat changes nothing more
    if not is_htmx(request):
        return see_other("/rewards/manage")
    async with current_db(request).reader() as session:
        counts = await queries.redeemed_units(session, [reward.id])
    return render(
        request,
        "rewards/_manage_row.html",
        page_context(
            request,
            reward=reward,
            counts=counts,
            states={reward.id: state_of(reward, utcnow())},
            state_labels=STATE_LABELS,
            limits=LIMIT_LABELS,
            can_edit=True,
            last_day=_last_day,
        ),
    )


# --- the item form -----------------------------------------------------------------------------------------------


def _day(value: dt.datetime | None) -> str:
    return "" if value is None else value.astimezone(_zone()).date().isoformat()


def _last_day(value: dt.datetime | None) -> dt.date | None:
    """`valid_to` is the first moment no longer valid; the form and list show the last valid day."""
    return None if value is None else (value.astimezone(_zone()) - dt.timedelta(microseconds=1)).date()


def _values_of(reward: Reward | None) -> dict[str, str]:
    if reward is None:
        return {"kind": "mdf", "active": "1"}
    values = {name: "" if getattr(reward, name) is None else str(getattr(reward, name)) for name in TEXT_FIELDS}
    values |= {name: "" if getattr(reward, name) is None else str(getattr(reward, name)) for name in NUMBER_FIELDS}
    last = _last_day(reward.valid_to)
    values |= {"valid_from": _day(reward.valid_from), "valid_to": "" if last is None else last.isoformat()}
    return values | {"active": "1" if reward.active else ""}


def _form_values(form: FormData) -> dict[str, str]:
    names = (*TEXT_FIELDS, *NUMBER_FIELDS, *DAY_FIELDS, "active")
    return {name: str(form.get(name, "")).strip() for name in names}


def _number(raw: str, locale: str) -> int | str | None:
    """An integer when it is one as the reader types it ("1.500" in German); else the text, for the model to refuse."""
    plain = i18n.plain_number(raw, locale)
    try:
        return int(plain) if plain else None
    except ValueError:
        return raw


def _moment(values: Mapping[str, str], name: str, current: Reward | None) -> dt.datetime | None:
    """A whole day in the program's time zone (the end day included); an unchanged day keeps the exact time."""
    raw = values.get(name, "")
    if not raw:
        return None
    day = dt.date.fromisoformat(raw)  # ValueError: the caller names the field
    if current is not None:
        kept: dt.datetime | None = getattr(current, name)
        shown = _last_day(kept) if name == "valid_to" else (kept.astimezone(_zone()).date() if kept else None)
        if kept is not None and shown == day:
            return kept
    if name == "valid_to":
        day += dt.timedelta(days=1)
    return dt.datetime(day.year, day.month, day.day, tzinfo=_zone()).astimezone(dt.UTC)


def parse_item(values: Mapping[str, str], current: Reward | None, locale: str = "en") -> dict[str, Any]:
    """The form as Reward columns, validated like the API's body; every problem at once, by form field."""
    errors: list[FieldError] = []
    moments: dict[str, dt.datetime | None] = {}
    for name in DAY_FIELDS:
        try:
            moments[name] = _moment(values, name, current)
        except ValueError:
            errors.append(FieldError((name,), N_("Please enter a date.")))
    kind = values.get("kind", "")
    body: dict[str, Any] = {
        "kind": kind,
        "name": {"de": values.get("name_de", ""), "en": values.get("name_en", "")},
        "description": {"de": values.get("description_de", ""), "en": values.get("description_en", "")},
        # The form shows only the kind's own fields; what a hidden one still holds is not this kind's.
        "value": (i18n.plain_number(values.get("value", ""), locale) or None) if kind != "discount" else None,
        "percent": (i18n.plain_number(values.get("percent", ""), locale) or None) if kind == "discount" else None,
        "limit_period": values.get("limit_period") or None,
        "active": bool(values.get("active")),
        **{name: _number(values.get(name, ""), locale) for name in NUMBER_FIELDS},
    }
    if body["points"] is None:
        errors.append(FieldError(("points",), N_("This field is required.")))
        del body["points"]
    fields: dict[str, Any] = {**body, **moments}  # as typed, for the checks between fields if a field is bad
    try:
        fields = reward_fields(RewardFieldsIn.model_validate(body)) | moments
        if fields["kind"] != "discount":
            fields["percent"] = None  # only a discount has one; an old value must not stay behind
    except ValidationError as exc:
        for error in field_errors_from_pydantic(exc):
            errors.append(FieldError((FORM_NAMES.get(error.loc[:2], str(error.loc[0])),), error.msg, **error.params))
    try:
        catalog.check_terms(fields)
    except ValidationFailed as failed:
        errors.extend(failed.errors)
    if errors:
        raise ValidationFailed(errors)
    return fields


async def _current(request: Request, principal: Principal, reward_id: int | None) -> Reward | None:
    if reward_id is None:
        return None
    async with current_db(request).reader() as session:
        reward = await queries.visible_reward(session, principal, reward_id)
    if reward is None:
        raise NotFound()
    return reward


async def _save(request: Request, principal: Principal, reward_id: int | None, fields: dict[str, Any]) -> int:
    async with current_db(request).transaction() as session:
        if reward_id is None:
            assert principal.program_id is not None
            reward = await services.create_reward(session, principal, program_id=principal.program_id, **fields)
        else:
            reward = await catalog.update_reward(session, principal, reward_id, **fields)
    return reward.id


async def item_form(request: Request) -> Response:
    """Add an item (`/rewards/new`) or change one (`/rewards/{id}/edit`); POST saves, once per form key."""
    principal = _admin(request)
    reward_id: int | None = request.path_params.get("id")
    current = await _current(request, principal, reward_id)
    values, errors = _values_of(current), {}
    key = uuid.uuid4().hex
    if request.method == "POST":
        form = await request.form()
        values = _form_values(form)
        key = str(form.get("request_key", "")) or key
        try:
            return await _once(request, principal, key, reward_id, values, current)
        except DomainError as error:
            if error.status == 404:
                raise
            errors = form_errors(request, error)
    async with current_db(request).reader() as session:
        redeemed = bool(reward_id and await queries.is_redeemed(session, reward_id))
    context = page_context(
        request,
        current=current,
        values=values,
        errors=errors,
        request_key=key,
        redeemed=redeemed,
        periods=PERIOD_LABELS,
    )
    return render(request, "rewards/item.html", context, status_code=422 if errors else 200)


async def _once(
    request: Request,
    principal: Principal,
    key: str,
    reward_id: int | None,
    values: Mapping[str, str],
    current: Reward | None,
) -> Response:
    """Save under the form's key: a double submit is sent where the first went; a refused form can be sent again."""
    db = current_db(request)
    scoped_key = f"web:reward-form:{key}"[: idempotency.MAX_KEY_LENGTH]
    print_ = idempotency.fingerprint(request.method, request.url.path, repr(sorted(values.items())).encode())
    try:
        stored = await idempotency.claim(db, principal.user_id, scoped_key, print_)
    except IdempotencyConflict as conflict:
        if conflict.detail == _OTHER_FORM:
            raise IdempotencyConflict(
                N_("This form was sent already with other values. Please open it again to make another change.")
            ) from conflict
        return see_other("/rewards/manage")  # the first submit is being saved
    if stored is not None:
        return see_other(stored[1].decode())
    try:
        saved_id = await _save(request, principal, reward_id, parse_item(values, current, request.state.locale))
    except BaseException:
        await idempotency.release(db, principal.user_id, scoped_key)
        raise
    location = f"/rewards/manage?saved={saved_id}#reward-{saved_id}"
    await idempotency.complete(db, principal.user_id, scoped_key, 303, location.encode())
    return see_other(location)


routes = [
    Route("/rewards/manage", manage),
    Route("/rewards/new", item_form, methods=["GET", "POST"]),
    Route("/rewards/{id:id}/edit", item_form, methods=["GET", "POST"]),
    Route("/rewards/{id:id}/deactivate", deactivate, methods=["POST"]),
]
