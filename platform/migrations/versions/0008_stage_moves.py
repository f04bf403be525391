"""stage moves: allowed next stages, roles that may enter a stage, stages reserved to flows

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 18:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMNs (meta_stage is the parent of cascading tables: no rebuild)
    op.add_column(
        "meta_stage",
        sa.Column("limit_moves", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "meta_stage",
        sa.Column("flow_only", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "meta_stage_transition",
        sa.Column("from_stage_id", sa.Integer(), nullable=False),
        sa.Column("to_stage_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["from_stage_id"],
            ["meta_stage.id"],
            name=op.f("fk_meta_stage_transition_from_stage_id_meta_stage"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["to_stage_id"],
            ["meta_stage.id"],
            name=op.f("fk_meta_stage_transition_to_stage_id_meta_stage"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "from_stage_id", "to_stage_id", name=op.f("pk_meta_stage_transition")
        ),
    )
    op.create_table(
        "meta_stage_role",
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["stage_id"],
            ["meta_stage.id"],
            name=op.f("fk_meta_stage_role_stage_id_meta_stage"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["auth_role.id"],
            name=op.f("fk_meta_stage_role_role_id_auth_role"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("stage_id", "role_id", name=op.f("pk_meta_stage_role")),
    )


def downgrade() -> None:
    op.drop_table("meta_stage_role")
    op.drop_table("meta_stage_transition")
    with op.batch_alter_table("meta_stage") as batch:
        batch.drop_column("flow_only")
        batch.drop_column("limit_moves")
