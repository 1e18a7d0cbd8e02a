"""Tables of the rewards domain: catalog, per-partner usage counters, redemptions, MDF allocations and claims."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, deferred, mapped_column
from sqlalchemy.types import TypeDecorator

from incentives.db import Base, UTCDateTime, utcnow


class Hundredths(TypeDecorator[Decimal]):
    """An exact decimal with two places (EUR, percent), kept as an integer of hundredths.

    SQLite has no decimal type (SQLAlchemy would go through float); integers are exact on both backends,
    and conditional UPDATEs (`remaining - :amount`) stay plain integer arithmetic.
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | int | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return int((Decimal(value) * 100).to_integral_exact())

    def process_result_value(self, value: int | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value).scaleb(-2)


MONEY = Hundredths()


class RewardKind(StrEnum):
    MDF = "mdf"
    DISCOUNT = "discount"
    BONUS = "bonus"


class LimitPeriod(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


class RedemptionStatus(StrEnum):
    REQUESTED = "requested"  # written, points not yet held (a crash here is finished by the reconcile sweep)
    PENDING = "pending"  # points held, waiting for a partner manager
    APPROVED = "approved"  # decided; posting the hold and creating the fulfilment
    FULFILLED = "fulfilled"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    FAILED = "failed"  # the hold was refused (not enough points); nothing is held


class ClaimStatus(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


def _in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{value}'" for value in values)


class Reward(Base):
    """A catalog item of one program. `points` is the price of one unit; `value` its worth in EUR."""

    __tablename__ = "rewards"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_in(RewardKind)})", name="kind_known"),
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock_not_negative"),
        CheckConstraint("limit_per_period IS NULL OR limit_per_period > 0", name="limit_positive"),
        CheckConstraint(f"limit_period IS NULL OR limit_period IN ({_in(LimitPeriod)})", name="limit_period_known"),
        CheckConstraint("auto_approve_up_to IS NULL OR auto_approve_up_to >= 0", name="auto_approve_not_negative"),
        CheckConstraint("kind <> 'mdf' OR value IS NOT NULL", name="mdf_has_value"),
        CheckConstraint("kind <> 'discount' OR percent IS NOT NULL", name="discount_has_percent"),
        Index("ix_rewards_program", "program_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    kind: Mapped[str] = mapped_column(String(10))
    name_de: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    description_de: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    points: Mapped[int] = mapped_column(Integer)
    value: Mapped[Decimal | None] = mapped_column(MONEY)
    percent: Mapped[Decimal | None] = mapped_column(Hundredths())
    # None: unlimited. Decremented with a conditional UPDATE, so it is never oversold.
    stock: Mapped[int | None] = mapped_column(Integer)
    limit_per_period: Mapped[int | None] = mapped_column(Integer)
    limit_period: Mapped[str | None] = mapped_column(String(10))
    valid_from: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    valid_to: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Redemptions of at most this many points are approved at once; None: every one needs a manager.
    auto_approve_up_to: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def name(self, locale: str) -> str:
        return self.name_de if locale == "de" else self.name_en

    def description(self, locale: str) -> str:
        return self.description_de if locale == "de" else self.description_en


class RewardUsage(Base):
    """Units of a reward a partner redeemed in one limit period; the limit is checked by a conditional UPDATE."""

    __tablename__ = "reward_usage"
    __table_args__ = (
        UniqueConstraint("reward_id", "org_id", "period"),
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))
    period: Mapped[str] = mapped_column(String(10))  # "2026-11", "2026-Q4", "2026"
    quantity: Mapped[int] = mapped_column(Integer, default=0)


class Redemption(Base):
    __tablename__ = "redemptions"
    __table_args__ = (
        # A partner's request token: double clicks and retries create one redemption.
        UniqueConstraint("org_id", "request_key"),
        CheckConstraint(f"status IN ({_in(RedemptionStatus)})", name="status_known"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("points > 0", name="points_positive"),
        Index("ix_redemptions_program_status", "program_id", "status", "id"),
        Index("ix_redemptions_org", "org_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    request_key: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer)
    # The usage period counted against the per-partner limit (None when the reward has no limit).
    period: Mapped[str | None] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(12))
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transfers.id"), unique=True)
    # The post or void that resolved the hold.
    resolution_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transfers.id"), unique=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(500))
    auto_approved: Mapped[bool] = mapped_column(default=False)
    # Fulfilment: a coupon code (discount), the bonus text (bonus); MDF allocations have their own table.
    coupon_code: Mapped[str | None] = mapped_column(String(40), unique=True)
    bonus: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    fulfilled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class MdfAllocation(Base):
    """Market development funds in EUR, granted by an approved MDF redemption; claims draw on it."""

    __tablename__ = "mdf_allocations"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining_within_amount"),
        Index("ix_mdf_allocations_org", "program_id", "org_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))
    redemption_id: Mapped[int] = mapped_column(ForeignKey("redemptions.id"), unique=True)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    # Not yet claimed: a submitted claim reserves its amount, a rejected one gives it back.
    remaining: Mapped[Decimal] = mapped_column(MONEY)
    valid_until: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class MdfClaim(Base):
    """A partner's claim against an allocation, with a proof file kept in the database."""

    __tablename__ = "mdf_claims"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(f"status IN ({_in(ClaimStatus)})", name="status_known"),
        Index("ix_mdf_claims_allocation", "allocation_id"),
        Index("ix_mdf_claims_program_status", "program_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"))
    allocation_id: Mapped[int] = mapped_column(ForeignKey("mdf_allocations.id"))
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    activity: Mapped[str] = mapped_column(String(500))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    status: Mapped[str] = mapped_column(String(10))
    proof_name: Mapped[str] = mapped_column(String(200))
    proof_type: Mapped[str] = mapped_column(String(60))
    proof_size: Mapped[int] = mapped_column(Integer)
    proof: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
