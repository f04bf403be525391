"""probe events: writes refused because of fields hidden from the caller

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_probe_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("fields", sa.String(length=400), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_probe_event")),
    )
    op.create_index("ix_auth_probe_event_user", "auth_probe_event", ["user_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_auth_probe_event_user", table_name="auth_probe_event")
    op.drop_table("auth_probe_event")
