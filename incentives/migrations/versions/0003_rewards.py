"""rewards: catalog, usage counters, redemptions, MDF allocations and claims, notifications

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rewards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("name_de", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("description_de", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=True),
        sa.Column("percent", sa.BigInteger(), nullable=True),
        sa.Column("stock", sa.Integer(), nullable=True),
        sa.Column("limit_per_period", sa.Integer(), nullable=True),
        sa.Column("limit_period", sa.String(length=10), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("auto_approve_up_to", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind <> 'discount' OR percent IS NOT NULL", name=op.f("ck_rewards_discount_has_percent")),
        sa.CheckConstraint("kind <> 'mdf' OR value IS NOT NULL", name=op.f("ck_rewards_mdf_has_value")),
        sa.CheckConstraint("kind IN ('mdf', 'discount', 'bonus')", name=op.f("ck_rewards_kind_known")),
        sa.CheckConstraint(
            "limit_period IS NULL OR limit_period IN ('month', 'quarter', 'year')",
            name=op.f("ck_rewards_limit_period_known"),
        ),
        sa.CheckConstraint(
            "auto_approve_up_to IS NULL OR auto_approve_up_to >= 0", name=op.f("ck_rewards_auto_approve_not_negative")
        ),
        sa.CheckConstraint("limit_per_period IS NULL OR limit_per_period > 0", name=op.f("ck_rewards_limit_positive")),
        sa.CheckConstraint("points > 0", name=op.f("ck_rewards_points_positive")),
        sa.CheckConstraint("stock IS NULL OR stock >= 0", name=op.f("ck_rewards_stock_not_negative")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_rewards_program_id_programs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rewards")),
    )
    with op.batch_alter_table("rewards", schema=None) as batch_op:
        batch_op.create_index("ix_rewards_program", ["program_id", "id"], unique=False)

    op.create_table(
        "reward_usage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reward_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_reward_usage_quantity_not_negative")),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_reward_usage_org_id_orgs")),
        sa.ForeignKeyConstraint(["reward_id"], ["rewards.id"], name=op.f("fk_reward_usage_reward_id_rewards")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_usage")),
        sa.UniqueConstraint("reward_id", "org_id", "period", name=op.f("uq_reward_usage_reward_id_org_id_period")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("dedup_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_notifications_org_id_orgs")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_notifications_program_id_programs")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_notifications_dedup_key")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_recipient", ["org_id", "user_id", "id"], unique=False)

    op.create_table(
        "redemptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("reward_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("request_key", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("hold_id", sa.Integer(), nullable=True),
        sa.Column("resolution_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("auto_approved", sa.Boolean(), nullable=False),
        sa.Column("coupon_code", sa.String(length=40), nullable=True),
        sa.Column("bonus", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fulfilled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('requested', 'pending', 'approved', 'fulfilled', 'rejected', 'cancelled', 'failed')",
            name=op.f("ck_redemptions_status_known"),
        ),
        sa.CheckConstraint("points > 0", name=op.f("ck_redemptions_points_positive")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_redemptions_quantity_positive")),
        sa.ForeignKeyConstraint(["decided_by_id"], ["users.id"], name=op.f("fk_redemptions_decided_by_id_users")),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["ledger_transfers.id"], name=op.f("fk_redemptions_hold_id_ledger_transfers")
        ),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_redemptions_org_id_orgs")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_redemptions_program_id_programs")),
        sa.ForeignKeyConstraint(["requested_by_id"], ["users.id"], name=op.f("fk_redemptions_requested_by_id_users")),
        sa.ForeignKeyConstraint(
            ["resolution_id"], ["ledger_transfers.id"], name=op.f("fk_redemptions_resolution_id_ledger_transfers")
        ),
        sa.ForeignKeyConstraint(["reward_id"], ["rewards.id"], name=op.f("fk_redemptions_reward_id_rewards")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redemptions")),
        sa.UniqueConstraint("coupon_code", name=op.f("uq_redemptions_coupon_code")),
        sa.UniqueConstraint("hold_id", name=op.f("uq_redemptions_hold_id")),
        sa.UniqueConstraint("org_id", "request_key", name=op.f("uq_redemptions_org_id_request_key")),
        sa.UniqueConstraint("resolution_id", name=op.f("uq_redemptions_resolution_id")),
    )
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.create_index("ix_redemptions_org", ["org_id", "id"], unique=False)
        batch_op.create_index("ix_redemptions_program_status", ["program_id", "status", "id"], unique=False)

    op.create_table(
        "mdf_allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("redemption_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_mdf_allocations_amount_positive")),
        sa.CheckConstraint(
            "remaining >= 0 AND remaining <= amount", name=op.f("ck_mdf_allocations_remaining_within_amount")
        ),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_mdf_allocations_org_id_orgs")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_mdf_allocations_program_id_programs")),
        sa.ForeignKeyConstraint(
            ["redemption_id"], ["redemptions.id"], name=op.f("fk_mdf_allocations_redemption_id_redemptions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mdf_allocations")),
        sa.UniqueConstraint("redemption_id", name=op.f("uq_mdf_allocations_redemption_id")),
    )
    with op.batch_alter_table("mdf_allocations", schema=None) as batch_op:
        batch_op.create_index("ix_mdf_allocations_org", ["program_id", "org_id"], unique=False)

    op.create_table(
        "mdf_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("allocation_id", sa.Integer(), nullable=False),
        sa.Column("submitted_by_id", sa.Integer(), nullable=False),
        sa.Column("activity", sa.String(length=500), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("proof_name", sa.String(length=200), nullable=False),
        sa.Column("proof_type", sa.String(length=60), nullable=False),
        sa.Column("proof_size", sa.Integer(), nullable=False),
        sa.Column("proof", sa.LargeBinary(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('submitted', 'approved', 'rejected')", name=op.f("ck_mdf_claims_status_known")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_mdf_claims_amount_positive")),
        sa.ForeignKeyConstraint(
            ["allocation_id"], ["mdf_allocations.id"], name=op.f("fk_mdf_claims_allocation_id_mdf_allocations")
        ),
        sa.ForeignKeyConstraint(["decided_by_id"], ["users.id"], name=op.f("fk_mdf_claims_decided_by_id_users")),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_mdf_claims_org_id_orgs")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_mdf_claims_program_id_programs")),
        sa.ForeignKeyConstraint(["submitted_by_id"], ["users.id"], name=op.f("fk_mdf_claims_submitted_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mdf_claims")),
    )
    with op.batch_alter_table("mdf_claims", schema=None) as batch_op:
        batch_op.create_index("ix_mdf_claims_allocation", ["allocation_id"], unique=False)
        batch_op.create_index("ix_mdf_claims_program_status", ["program_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mdf_claims", schema=None) as batch_op:
        batch_op.drop_index("ix_mdf_claims_program_status")
        batch_op.drop_index("ix_mdf_claims_allocation")

    op.drop_table("mdf_claims")
    with op.batch_alter_table("mdf_allocations", schema=None) as batch_op:
        batch_op.drop_index("ix_mdf_allocations_org")

    op.drop_table("mdf_allocations")
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.drop_index("ix_redemptions_program_status")
        batch_op.drop_index("ix_redemptions_org")

    op.drop_table("redemptions")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_recipient")

    op.drop_table("notifications")
    op.drop_table("reward_usage")
    with op.batch_alter_table("rewards", schema=None) as batch_op:
        batch_op.drop_index("ix_rewards_program")

    op.drop_table("rewards")
