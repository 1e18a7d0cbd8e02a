"""ledger: accounts, append-only transfers, lots and lot uses

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Transfers and lot uses are the book of record: the database itself refuses to change or remove them.
APPEND_ONLY = ("ledger_transfers", "ledger_lot_uses")


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("debits_posted", sa.BigInteger(), nullable=False),
        sa.Column("credits_posted", sa.BigInteger(), nullable=False),
        sa.Column("debits_pending", sa.BigInteger(), nullable=False),
        sa.Column("credits_pending", sa.BigInteger(), nullable=False),
        sa.Column("earned", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "(kind = 'partner') = (org_id IS NOT NULL)", name=op.f("ck_ledger_accounts_org_iff_partner")
        ),
        sa.CheckConstraint(
            "CASE WHEN kind IN ('issuance', 'clawback') THEN debits_posted - credits_posted - credits_pending"
            " ELSE credits_posted - debits_posted - debits_pending END >= 0",
            name=op.f("ck_ledger_accounts_balance_not_negative"),
        ),
        sa.CheckConstraint(
            "kind IN ('issuance', 'partner', 'mdf', 'discount', 'bonus', 'expired', 'clawback')",
            name=op.f("ck_ledger_accounts_kind_known"),
        ),
        sa.CheckConstraint(
            "debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0 AND credits_pending >= 0",
            name=op.f("ck_ledger_accounts_counters_not_negative"),
        ),
        sa.CheckConstraint("earned >= 0", name=op.f("ck_ledger_accounts_earned_not_negative")),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_ledger_accounts_org_id_orgs")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_ledger_accounts_program_id_programs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint("program_id", "id", name=op.f("uq_ledger_accounts_program_id_id")),
        sa.UniqueConstraint("program_id", "name", name=op.f("uq_ledger_accounts_program_id_name")),
    )
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_accounts_org_id"), ["org_id"], unique=False)

    op.create_table(
        "ledger_transfers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("debit_account_id", sa.Integer(), nullable=False),
        sa.Column("credit_account_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("pending_id", sa.Integer(), nullable=True),
        sa.Column("reverses_id", sa.Integer(), nullable=True),
        sa.Column("timeout_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("rule_version", sa.Integer(), nullable=True),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("redemption_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(pending_id IS NOT NULL) = (kind IN ('post', 'void'))",
            name=op.f("ck_ledger_transfers_pending_iff_resolution"),
        ),
        sa.CheckConstraint(
            "kind IN ('earn', 'hold', 'post', 'void', 'redeem', 'expire', 'reverse', 'adjust')",
            name=op.f("ck_ledger_transfers_kind_known"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_ledger_transfers_amount_positive")),
        sa.CheckConstraint("debit_account_id <> credit_account_id", name=op.f("ck_ledger_transfers_accounts_differ")),
        sa.ForeignKeyConstraint(
            ["pending_id"], ["ledger_transfers.id"], name=op.f("fk_ledger_transfers_pending_id_ledger_transfers")
        ),
        sa.ForeignKeyConstraint(
            ["program_id", "credit_account_id"],
            ["ledger_accounts.program_id", "ledger_accounts.id"],
            name="fk_ledger_transfers_credit_account",
        ),
        sa.ForeignKeyConstraint(
            ["program_id", "debit_account_id"],
            ["ledger_accounts.program_id", "ledger_accounts.id"],
            name="fk_ledger_transfers_debit_account",
        ),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_ledger_transfers_program_id_programs")),
        sa.ForeignKeyConstraint(
            ["reverses_id"], ["ledger_transfers.id"], name=op.f("fk_ledger_transfers_reverses_id_ledger_transfers")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_ledger_transfers_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transfers")),
        sa.UniqueConstraint("pending_id", name=op.f("uq_ledger_transfers_pending_id")),
        sa.UniqueConstraint(
            "program_id", "idempotency_key", name=op.f("uq_ledger_transfers_program_id_idempotency_key")
        ),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_ledger_transfers_reverses_id")),
    )
    with op.batch_alter_table("ledger_transfers", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_transfers_credit", ["credit_account_id", "id"], unique=False)
        batch_op.create_index("ix_ledger_transfers_debit", ["debit_account_id", "id"], unique=False)
        batch_op.create_index("ix_ledger_transfers_timeout", ["timeout_at"], unique=False)

    op.create_table(
        "ledger_lots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("transfer_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.Column("held", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_ledger_lots_amount_positive")),
        sa.CheckConstraint(
            "remaining >= 0 AND held >= 0 AND remaining + held <= amount", name=op.f("ck_ledger_lots_within_amount")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_accounts.id"], name=op.f("fk_ledger_lots_account_id_ledger_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["ledger_transfers.id"], name=op.f("fk_ledger_lots_transfer_id_ledger_transfers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_lots")),
        sa.UniqueConstraint("transfer_id", name=op.f("uq_ledger_lots_transfer_id")),
    )
    with op.batch_alter_table("ledger_lots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_lots_expiry",
            ["expires_at"],
            unique=False,
            sqlite_where=sa.text("remaining > 0"),
            postgresql_where=sa.text("remaining > 0"),
        )
        batch_op.create_index(
            "ix_ledger_lots_open",
            ["account_id", "expires_at", "id"],
            unique=False,
            sqlite_where=sa.text("remaining > 0"),
            postgresql_where=sa.text("remaining > 0"),
        )

    op.create_table(
        "ledger_lot_uses",
        sa.Column("transfer_id", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_ledger_lot_uses_amount_positive")),
        sa.ForeignKeyConstraint(["lot_id"], ["ledger_lots.id"], name=op.f("fk_ledger_lot_uses_lot_id_ledger_lots")),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["ledger_transfers.id"], name=op.f("fk_ledger_lot_uses_transfer_id_ledger_transfers")
        ),
        sa.PrimaryKeyConstraint("transfer_id", "lot_id", name=op.f("pk_ledger_lot_uses")),
    )
    with op.batch_alter_table("ledger_lot_uses", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_lot_uses_lot", ["lot_id"], unique=False)

    _create_append_only_triggers()


def _create_append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'restrict_violation';
            END
            $$
            """
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
                " FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()"
            )
        return
    for table in APPEND_ONLY:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table}"
                f" BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS ledger_refuse_change()")
    else:
        for table in APPEND_ONLY:
            for action in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")
    op.drop_table("ledger_lot_uses")
    op.drop_table("ledger_lots")
    op.drop_table("ledger_transfers")
    op.drop_table("ledger_accounts")
