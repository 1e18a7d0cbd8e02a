"""invitations: a program invites a partner by e-mail; the outbox can mail an address without a user

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("tier", sa.String(length=20), nullable=False),
        sa.Column("competencies", sa.JSON(), nullable=False),
        sa.Column("certifications", sa.JSON(), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("distributor_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("invited_by_id", sa.Integer(), nullable=False),
        sa.Column("link_hash", sa.String(length=64), nullable=True),
        sa.Column("link_expires_at", TZ, nullable=True),
        sa.Column("link_used_at", TZ, nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", TZ, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.CheckConstraint("status IN ('pending', 'accepted', 'declined')", name=op.f("ck_invitations_status_known")),
        sa.CheckConstraint(
            "tier IN ('platinum', 'gold', 'silver', 'registered')", name=op.f("ck_invitations_tier_known")
        ),
        sa.CheckConstraint("capacity IS NULL OR capacity >= 0", name=op.f("ck_invitations_capacity_not_negative")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_invitations_program_id_programs")),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_invitations_org_id_orgs")),
        sa.ForeignKeyConstraint(["distributor_id"], ["orgs.id"], name=op.f("fk_invitations_distributor_id_orgs")),
        sa.ForeignKeyConstraint(["invited_by_id"], ["users.id"], name=op.f("fk_invitations_invited_by_id_users")),
        sa.ForeignKeyConstraint(["decided_by_id"], ["users.id"], name=op.f("fk_invitations_decided_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("link_hash", name=op.f("uq_invitations_link_hash")),
    )
    op.create_index("ix_invitations_program_email", "invitations", ["program_id", "email"])
    op.create_index("ix_invitations_org", "invitations", ["org_id", "status"])
    with op.batch_alter_table("mail_outbox") as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("address", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("locale", sa.String(length=5), nullable=True))
        batch_op.create_check_constraint("has_recipient", "user_id IS NOT NULL OR address IS NOT NULL")


def downgrade() -> None:
    op.execute("DELETE FROM mail_outbox WHERE user_id IS NULL")
    with op.batch_alter_table("mail_outbox") as batch_op:
        batch_op.drop_constraint("has_recipient", type_="check")
        batch_op.drop_column("locale")
        batch_op.drop_column("address")
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
    op.drop_index("ix_invitations_org", table_name="invitations")
    op.drop_index("ix_invitations_program_email", table_name="invitations")
    op.drop_table("invitations")
