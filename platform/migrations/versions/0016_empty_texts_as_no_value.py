"""empty texts stored before 673e752 become no value (NULL), as new ones are

Since 673e752 ``TextType.normalise`` stores an empty text (or one of only whitespace) as
NULL, so ``__isnull=true`` finds it and no condition on a value matches it. Records written
before hold ``''`` (or, in a long text, only whitespace): this sets those to NULL in every
record table, so old and new records answer a filter alike.

A data change in the record tables (``rec_*``), the one kind this folder makes there: their
schema stays the planner's. Which columns: every field, archived ones and those of archived
entity types included (their data is kept for a restore), whose type normalises an empty text
to NULL at this revision: ``text``, ``long_text`` and the formatted texts ``email``, ``url``
and ``phone`` (``TextType`` and its subclasses; tests/test_migration_empty_texts.py checks
the set against the registry). Which values: those ``str.strip()`` empties, as ``normalise``
does (the whitespace below is Python's, not SQL's spaces only). One UPDATE per column, in the
upgrade's transaction; a column that is not in the database is skipped.

Left as they were: the audit log and stage history (what was written then), each record's
version and ``updated_at`` (the value reads the same to a user: empty), and columns of
other types. A required text holding ``''`` was missing already (the record service treats
an empty text as missing); it is NULL now, so the next edit asks for it, as before. Unique
fields and indexes take any number of NULLs. Downgrade changes nothing back: a NULL cannot
tell which was ``''``.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 12:10:00.000000
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

#: the field types whose ``normalise`` is ``TextType.normalise`` at this revision
TEXT_TYPES = ('text', 'long_text', 'email', 'url', 'phone')
#: every character ``str.isspace()`` holds for (what ``str.strip()`` removes)
WHITESPACE = (
    '\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005'
    '\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000'
)


def record_table_name(entity_key: str) -> str:
    """``trellis.metamodel.physical.record_table_name`` as of this revision."""
    name = 'rec_' + entity_key
    if len(name) <= 63:
        return name
    return f"{name[:54]}_{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def upgrade() -> None:
    connection = op.get_bind()
    fields = connection.execute(
        sa.text(
            'SELECT e.key, f.key FROM meta_field f JOIN meta_entity e ON e.id = f.entity_id '
            'WHERE f.type IN :types ORDER BY e.key, f.key'
        ).bindparams(sa.bindparam('types', expanding=True)),
        {'types': list(TEXT_TYPES)},
    ).all()
    if not fields:
        return
    inspector = sa.inspect(connection)
    tables = set(inspector.get_table_names())
    # btrim(string, characters) on PostgreSQL, trim(X, Y) on SQLite: both strip characters
    trim = 'btrim' if connection.dialect.name == 'postgresql' else 'trim'
    columns_of: dict[str, set[str]] = {}
    for entity_key, field_key in fields:
        table = record_table_name(entity_key)
        if table not in tables:
            continue
        if table not in columns_of:
            columns_of[table] = {c['name'] for c in inspector.get_columns(table)}
        if field_key not in columns_of[table]:
            continue
        column = sa.column(field_key, sa.Text)
        record_table = sa.table(table, column)
        connection.execute(
            record_table.update()
            .where(
                column.is_not(None),
                getattr(sa.func, trim)(column, sa.literal(WHITESPACE, sa.Text)) == '',
            )
            .values({field_key: None})
        )


def downgrade() -> None:
    # nothing to undo: a NULL cannot tell which was ''
    pass
