"""leads

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=True),
        sa.Column("company", sa.String(length=200), nullable=False),
        sa.Column("contact_name", sa.String(length=200), nullable=False),
        sa.Column("contact_email", sa.String(length=254), nullable=False),
        sa.Column("contact_phone", sa.String(length=40), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("postal_code", sa.String(length=12), nullable=True),
        sa.Column("city", sa.String(length=120), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("industry", sa.String(length=80), nullable=True),
        sa.Column("product_line", sa.String(length=80), nullable=False),
        sa.Column("temperature", sa.String(length=10), nullable=False),
        sa.Column("estimated_value", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("required_certifications", sa.JSON(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=80), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("ranking", sa.JSON(), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reserved_by_org_id", sa.Integer(), nullable=True),
        sa.Column("reserved_by_user_id", sa.Integer(), nullable=True),
        sa.Column("reserved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("feedback_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue_noticed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_feedback", sa.String(length=20), nullable=True),
        sa.Column("last_feedback_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deal_value", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("lost_reason", sa.String(length=500), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status <> 'reserved' OR reserved_by_org_id IS NOT NULL", name=op.f("ck_leads_reserved_has_org")
        ),
        sa.CheckConstraint(
            "status IN ('new', 'qualified', 'offered', 'reserved', 'won', 'lost', 'unclaimed')",
            name=op.f("ck_leads_status_known"),
        ),
        sa.CheckConstraint("temperature IN ('hot', 'warm', 'cold')", name=op.f("ck_leads_temperature_known")),
        sa.CheckConstraint("wave >= 0", name=op.f("ck_leads_wave_not_negative")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_leads_created_by_id_users")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_leads_program_id_programs")),
        sa.ForeignKeyConstraint(["reserved_by_org_id"], ["orgs.id"], name=op.f("fk_leads_reserved_by_org_id_orgs")),
        sa.ForeignKeyConstraint(["reserved_by_user_id"], ["users.id"], name=op.f("fk_leads_reserved_by_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leads")),
        sa.UniqueConstraint("program_id", "external_id", name=op.f("uq_leads_program_id_external_id")),
    )
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index("ix_leads_due_feedback", ["status", "feedback_due_at"], unique=False)
        batch_op.create_index("ix_leads_due_offers", ["status", "expires_at"], unique=False)
        batch_op.create_index("ix_leads_program_status", ["program_id", "status"], unique=False)
        batch_op.create_index("ix_leads_reserved_by", ["reserved_by_org_id", "status"], unique=False)

    op.create_table(
        "lead_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_lead_events_actor_id_users")),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name=op.f("fk_lead_events_lead_id_leads")),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_lead_events_org_id_orgs")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_lead_events_program_id_programs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_events")),
    )
    with op.batch_alter_table("lead_events", schema=None) as batch_op:
        batch_op.create_index("ix_lead_events_lead", ["lead_id", "id"], unique=False)
        batch_op.create_index("ix_lead_events_org_at", ["org_id", "at"], unique=False)

    op.create_table(
        "lead_offers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("breakdown", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("state IN ('open', 'returned', 'withdrawn')", name=op.f("ck_lead_offers_state_known")),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name=op.f("fk_lead_offers_lead_id_leads")),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_lead_offers_org_id_orgs")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_lead_offers_program_id_programs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_offers")),
        sa.UniqueConstraint("lead_id", "org_id", name=op.f("uq_lead_offers_lead_id_org_id")),
    )
    with op.batch_alter_table("lead_offers", schema=None) as batch_op:
        batch_op.create_index("ix_lead_offers_org_state", ["org_id", "state"], unique=False)

    op.create_table(
        "outbox_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name=op.f("fk_outbox_events_lead_id_leads")),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_outbox_events_org_id_orgs")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_outbox_events_program_id_programs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
    )
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_pending", ["processed_at", "id"], unique=False)

    with op.batch_alter_table("programs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("matching_weights", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))

    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.add_column(sa.Column("won_leads", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("closed_leads", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("open_leads", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("last_offered_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint(
            "lead_counters_sane", "open_leads >= 0 AND won_leads >= 0 AND won_leads <= closed_leads"
        )


def downgrade() -> None:
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_constraint("lead_counters_sane", type_="check")
        batch_op.drop_column("last_offered_at")
        batch_op.drop_column("open_leads")
        batch_op.drop_column("closed_leads")
        batch_op.drop_column("won_leads")
    with op.batch_alter_table("programs", schema=None) as batch_op:
        batch_op.drop_column("matching_weights")

    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_pending")

    op.drop_table("outbox_events")
    with op.batch_alter_table("lead_offers", schema=None) as batch_op:
        batch_op.drop_index("ix_lead_offers_org_state")

    op.drop_table("lead_offers")
    with op.batch_alter_table("lead_events", schema=None) as batch_op:
        batch_op.drop_index("ix_lead_events_org_at")
        batch_op.drop_index("ix_lead_events_lead")

    op.drop_table("lead_events")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index("ix_leads_reserved_by")
        batch_op.drop_index("ix_leads_program_status")
        batch_op.drop_index("ix_leads_due_offers")
        batch_op.drop_index("ix_leads_due_feedback")

    op.drop_table("leads")
