"""session stamps on users; login throttling per user name and client address

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 15:50:00.000000
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN (no table rebuild: auth_user is the parent of cascading tables)
    op.add_column(
        'auth_user',
        sa.Column('session_stamp', sa.String(length=32), nullable=False, server_default=''),
    )
    users = sa.table('auth_user', sa.column('id', sa.Integer), sa.column('session_stamp'))
    connection = op.get_bind()
    for (user_id,) in connection.execute(sa.select(users.c.id)).all():
        connection.execute(
            users.update().where(users.c.id == user_id).values(session_stamp=secrets.token_hex(16))
        )
    # the counts are short-lived; they start afresh with the new key
    op.drop_table('auth_login_throttle')
    op.create_table('auth_login_throttle',
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('blocked_until', sa.DateTime(), nullable=True),
    sa.Column('last_failure_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('username', 'address', name=op.f('pk_auth_login_throttle'))
    )
    with op.batch_alter_table('auth_login_throttle', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auth_login_throttle_last_failure_at'), ['last_failure_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('auth_login_throttle', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auth_login_throttle_last_failure_at'))
    op.drop_table('auth_login_throttle')
    op.create_table('auth_login_throttle',
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('blocked_until', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('username', name=op.f('pk_auth_login_throttle'))
    )
    op.drop_column('auth_user', 'session_stamp')
