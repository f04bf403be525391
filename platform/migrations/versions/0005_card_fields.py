"""the fields a kanban card shows, per entity type

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 16:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN (meta_entity is the parent of cascading tables: no rebuild)
    op.add_column(
        'meta_entity',
        sa.Column('card_fields', sa.JSON(), nullable=False, server_default=sa.text("'[]'")),
    )


def downgrade() -> None:
    with op.batch_alter_table('meta_entity') as batch:
        batch.drop_column('card_fields')
