"""history via: who acted when no user did (a flow's ``flow:<key>``), on audit events and
stage visits, so that a record's history names the flow instead of "system"

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 22:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain nullable ADD COLUMNs: no table rebuild, existing rows stay as they were
    op.add_column("audit_event", sa.Column("via", sa.String(length=60), nullable=True))
    op.add_column("stage_visit", sa.Column("entered_via", sa.String(length=60), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stage_visit") as batch:
        batch.drop_column("entered_via")
    with op.batch_alter_table("audit_event") as batch:
        batch.drop_column("via")
