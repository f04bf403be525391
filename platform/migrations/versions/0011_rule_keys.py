"""rule keys: required and validation rules get a key (unique per entity type), so config
packs can name them

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN and a unique index (no table rebuild); the rules that exist are
    # named after their ids, which are unique already
    op.add_column(
        "meta_rule",
        sa.Column("key", sa.String(length=60), nullable=False, server_default=sa.text("''")),
    )
    op.execute("UPDATE meta_rule SET key = 'rule_' || CAST(id AS VARCHAR(20))")
    op.create_index("uq_meta_rule_entity_key", "meta_rule", ["entity_id", "key"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_meta_rule_entity_key", table_name="meta_rule")
    with op.batch_alter_table("meta_rule") as batch:
        batch.drop_column("key")
