"""installed packs: name, version, manifest and base documents; the pack of every object

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pack_installed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("base", sa.JSON(), nullable=False),
        sa.Column("installed_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pack_installed")),
        sa.UniqueConstraint("name", name=op.f("uq_pack_installed_name")),
    )
    op.create_table(
        "pack_object",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pack_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pack_id"],
            ["pack_installed.id"],
            name=op.f("fk_pack_object_pack_id_pack_installed"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pack_object")),
        sa.UniqueConstraint("kind", "key", name=op.f("uq_pack_object_kind_key")),
    )


def downgrade() -> None:
    op.drop_table("pack_object")
    op.drop_table("pack_installed")
