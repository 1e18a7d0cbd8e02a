"""accounts and idempotency

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_login_attempts_key_at", ["key", "at"], unique=False)

    op.create_table(
        "programs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("manufacturer_id", sa.Integer(), nullable=True),
        sa.Column("default_locale", sa.String(length=5), nullable=False),
        sa.Column("escalation_hours", sa.Integer(), nullable=False),
        sa.Column("offer_wave_size", sa.Integer(), nullable=False),
        sa.Column("max_waves", sa.Integer(), nullable=False),
        sa.Column("feedback_due_hours", sa.Integer(), nullable=False),
        sa.Column("max_overdue_leads", sa.Integer(), nullable=False),
        sa.Column("points_expiry_months", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("escalation_hours > 0", name=op.f("ck_programs_escalation_hours_positive")),
        sa.CheckConstraint("feedback_due_hours > 0", name=op.f("ck_programs_feedback_due_hours_positive")),
        sa.CheckConstraint("max_overdue_leads >= 0", name=op.f("ck_programs_max_overdue_leads_not_negative")),
        sa.CheckConstraint("max_waves > 0", name=op.f("ck_programs_max_waves_positive")),
        sa.CheckConstraint("offer_wave_size > 0", name=op.f("ck_programs_offer_wave_size_positive")),
        sa.CheckConstraint("points_expiry_months > 0", name=op.f("ck_programs_points_expiry_months_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programs")),
        sa.UniqueConstraint("name", name=op.f("uq_programs_name")),
    )
    op.create_table(
        "orgs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("city", sa.String(length=120), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("registered_by_program_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('manufacturer', 'distributor', 'reseller', 'agency')", name=op.f("ck_orgs_kind_known")
        ),
        sa.ForeignKeyConstraint(
            ["registered_by_program_id"], ["programs.id"], name=op.f("fk_orgs_registered_by_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orgs")),
    )
    # programs and orgs refer to each other: the second foreign key follows the second table.
    with op.batch_alter_table("programs", schema=None) as batch_op:
        batch_op.create_foreign_key(op.f("fk_programs_manufacturer_id_orgs"), "orgs", ["manufacturer_id"], ["id"])
    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(length=20), nullable=False),
        sa.Column("competencies", sa.JSON(), nullable=False),
        sa.Column("certifications", sa.JSON(), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("distributor_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "tier IN ('platinum', 'gold', 'silver', 'registered')", name=op.f("ck_memberships_tier_known")
        ),
        sa.CheckConstraint("capacity IS NULL OR capacity >= 0", name=op.f("ck_memberships_capacity_not_negative")),
        sa.ForeignKeyConstraint(["distributor_id"], ["orgs.id"], name=op.f("fk_memberships_distributor_id_orgs")),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_memberships_org_id_orgs")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_memberships_program_id_programs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
        sa.UniqueConstraint("program_id", "org_id", name=op.f("uq_memberships_program_id_org_id")),
    )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index("ix_memberships_distributor", ["program_id", "distributor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_memberships_org_id"), ["org_id"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=30), nullable=False),
        sa.Column("locale", sa.String(length=5), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("locale IN ('de', 'en')", name=op.f("ck_users_locale_known")),
        sa.CheckConstraint(
            "role IN ('admin', 'partner_manager', 'agency', 'distributor_manager', 'reseller_manager', 'reseller_rep')",
            name=op.f("ck_users_role_known"),
        ),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_users_org_id_orgs")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_users_program_id_programs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_users_program_id"), ["program_id"], unique=False)

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_api_tokens_created_by_id_users")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_idempotency_keys_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("user_id", "key", name=op.f("uq_idempotency_keys_user_id_key")),
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_program_id"))
        batch_op.drop_index(batch_op.f("ix_users_org_id"))

    op.drop_table("users")
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_memberships_org_id"))
        batch_op.drop_index("ix_memberships_distributor")

    op.drop_table("memberships")
    with op.batch_alter_table("programs", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_programs_manufacturer_id_orgs"), type_="foreignkey")
    op.drop_table("orgs")
    op.drop_table("programs")
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_login_attempts_key_at")

    op.drop_table("login_attempts")
