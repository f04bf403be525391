"""entity revision: a stamp per entity type, so workers recompile only what changed

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 18:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN (meta_entity is the parent of cascading tables: no rebuild); the
    # entity types that exist start with the same empty revision, which is right: the first
    # change of one gives it its own
    op.add_column(
        "meta_entity",
        sa.Column("revision", sa.String(length=32), nullable=False, server_default=sa.text("''")),
    )


def downgrade() -> None:
    with op.batch_alter_table("meta_entity") as batch:
        batch.drop_column("revision")
