"""liability index: the open lots' index carries `remaining`, so the points liability reads the index alone

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("remaining > 0")


def _open_lots(columns: list[str]) -> None:
    op.drop_index("ix_ledger_lots_open", table_name="ledger_lots")
    op.create_index("ix_ledger_lots_open", "ledger_lots", columns, sqlite_where=OPEN, postgresql_where=OPEN)


def upgrade() -> None:
    # Spending still takes lots oldest first by (account, expiry, id); the liability's sums per expiry boundary
    # now find `remaining` in the index instead of fetching every open lot's row.
    _open_lots(["account_id", "expires_at", "id", "remaining"])


def downgrade() -> None:
    _open_lots(["account_id", "expires_at", "id"])
