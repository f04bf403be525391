"""the list indexes an administrator declares, per entity type

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 01:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN (meta_entity is the parent of cascading tables: no rebuild)
    op.add_column(
        'meta_entity',
        sa.Column('list_indexes', sa.JSON(), nullable=False, server_default=sa.text("'[]'")),
    )


def downgrade() -> None:
    with op.batch_alter_table('meta_entity') as batch:
        batch.drop_column('list_indexes')
