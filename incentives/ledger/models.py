"""Tables of the points ledger: accounts, append-only transfers, expiring lots and their uses."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from incentives.db import Base, UTCDateTime


class AccountKind(StrEnum):
    ISSUANCE = "issuance"  # where earned points come from (debit-normal)
    PARTNER = "partner"  # one per partner org: the spendable points
    MDF = "mdf"  # sinks for redeemed points, by reward kind
    DISCOUNT = "discount"
    BONUS = "bonus"
    EXPIRED = "expired"
    CLAWBACK = "clawback"  # receivable for reversed points that were already spent (debit-normal)
    ADJUSTED = "adjusted"  # sink for points taken back by manual adjustments


class TransferKind(StrEnum):
    EARN = "earn"
    HOLD = "hold"
    POST = "post"
    VOID = "void"
    REDEEM = "redeem"
    EXPIRE = "expire"
    REVERSE = "reverse"
    ADJUST = "adjust"


SINK_KINDS = (AccountKind.MDF, AccountKind.DISCOUNT, AccountKind.BONUS)
DEBIT_NORMAL = (AccountKind.ISSUANCE, AccountKind.CLAWBACK)


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)


_ACCOUNT_KINDS = _in(tuple(AccountKind))
_TRANSFER_KINDS = _in(tuple(TransferKind))
_DEBIT_NORMAL = _in(DEBIT_NORMAL)


class LedgerAccount(Base):
    """An account of one program. Partner accounts cache the sums of their transfers in the counters
    (checked by `ledger verify`); system accounts keep them at zero and are summed from transfers."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("program_id", "name"),
        # Target of the transfers' composite foreign keys: both sides of a transfer share its program.
        UniqueConstraint("program_id", "id"),
        CheckConstraint(f"kind IN ({_ACCOUNT_KINDS})", name="kind_known"),
        CheckConstraint("(kind = 'partner') = (org_id IS NOT NULL)", name="org_iff_partner"),
        CheckConstraint(
            "debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0 AND credits_pending >= 0",
            name="counters_not_negative",
        ),
        # The balance on the account's normal side never goes negative (pending debits count as spent).
        CheckConstraint(
            f"CASE WHEN kind IN ({_DEBIT_NORMAL}) THEN debits_posted - credits_posted - credits_pending"
            " ELSE credits_posted - debits_posted - debits_pending END >= 0",
            name="balance_not_negative",
        ),
        CheckConstraint("earned >= 0", name="earned_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    kind: Mapped[str] = mapped_column(String(20))
    # "org:<id>" for partner accounts, the kind for the program's system accounts.
    name: Mapped[str] = mapped_column(String(40))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("orgs.id"), index=True)
    debits_posted: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_posted: Mapped[int] = mapped_column(BigInteger, default=0)
    debits_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    # Points earned over the account's life (earn and positive adjustments, less reversed awards).
    earned: Mapped[int] = mapped_column(BigInteger, default=0)


class LedgerTransfer(Base):
    """One movement of points from the debit to the credit account. Never updated, never deleted."""

    __tablename__ = "ledger_transfers"
    __table_args__ = (
        UniqueConstraint("program_id", "idempotency_key"),
        # A hold resolves once (post or void); an award is reversed once.
        UniqueConstraint("pending_id"),
        UniqueConstraint("reverses_id"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="accounts_differ"),
        CheckConstraint(f"kind IN ({_TRANSFER_KINDS})", name="kind_known"),
        CheckConstraint("(pending_id IS NOT NULL) = (kind IN ('post', 'void'))", name="pending_iff_resolution"),
        ForeignKeyConstraint(
            ["program_id", "debit_account_id"],
            ["ledger_accounts.program_id", "ledger_accounts.id"],
            name="fk_ledger_transfers_debit_account",
        ),
        ForeignKeyConstraint(
            ["program_id", "credit_account_id"],
            ["ledger_accounts.program_id", "ledger_accounts.id"],
            name="fk_ledger_transfers_credit_account",
        ),
        Index("ix_ledger_transfers_debit", "debit_account_id", "id"),
        Index("ix_ledger_transfers_credit", "credit_account_id", "id"),
        Index("ix_ledger_transfers_timeout", "timeout_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    kind: Mapped[str] = mapped_column(String(10))
    debit_account_id: Mapped[int] = mapped_column(Integer)
    credit_account_id: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
    # The hold a post or void resolves; the award a reversal takes back.
    pending_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transfers.id"))
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transfers.id"))
    # Holds only: when an unresolved hold is voided by the sweep.
    timeout_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # NULL only for transfers the ledger derives itself (expiry, a clawback's booking).
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    # The cause. Rules and leads live in other domains: plain ids, no foreign keys.
    rule_id: Mapped[int | None] = mapped_column(Integer)
    rule_version: Mapped[int | None] = mapped_column(Integer)
    lead_id: Mapped[int | None] = mapped_column(Integer)
    redemption_id: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class LedgerLot(Base):
    """Points of one earn (or positive adjustment) with their expiry; `amount = used + held + remaining`."""

    __tablename__ = "ledger_lots"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("remaining >= 0 AND held >= 0 AND remaining + held <= amount", name="within_amount"),
        # Spending and holds take open lots oldest first; `remaining` lets the liability's sums read the index alone.
        Index(
            "ix_ledger_lots_open",
            "account_id",
            "expires_at",
            "id",
            "remaining",
            sqlite_where=text("remaining > 0"),
            postgresql_where=text("remaining > 0"),
        ),
        # The expiry sweep looks for open lots that are due; spent lots drop out of both indexes.
        Index(
            "ix_ledger_lots_expiry",
            "expires_at",
            sqlite_where=text("remaining > 0"),
            postgresql_where=text("remaining > 0"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    transfer_id: Mapped[int] = mapped_column(ForeignKey("ledger_transfers.id"), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    held: Mapped[int] = mapped_column(BigInteger, default=0)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class LedgerLotUse(Base):
    """How many points of which lot a debiting transfer took (append-only, like transfers)."""

    __tablename__ = "ledger_lot_uses"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_ledger_lot_uses_lot", "lot_id"),
    )

    transfer_id: Mapped[int] = mapped_column(ForeignKey("ledger_transfers.id"), primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("ledger_lots.id"), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)
