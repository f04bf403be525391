"""A created record's row and its audit row inserted on the driver's cursor
(``records.direct.DirectInsert``: compiled once per entity type, dialect and set of columns):
the driver gets the SQL and the parameters SQLAlchemy's own execution gives it and the same
id comes back, for every field type filled and empty; statement listeners see both INSERTs;
values for other columns than the compiled ones are refused, not dropped (a batch with such
rows is left to SQLAlchemy, before anything runs); a statement
SQLAlchemy must complete (a column default it computes) is left to SQLAlchemy; a driver error
is SQLAlchemy's exception."""

from __future__ import annotations

from typing import Any

import pytest
from configured_fixtures import configured
from every_field_type import FIELDS, every_type_targets
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError

from trellis.clock import utcnow
from trellis.records.audit import AUDIT_INSERT, AuditEvent
from trellis.records.direct import (
    DirectInsert,
    OtherKeys,
    insert_many,
    insert_one,
    insert_returning_each,
)


@configured
def targets(factory, runtime):  # type: ignore[no-untyped-def]
    """The ``thing`` entity type with a field of every type; the ids its reference and user
    fields take."""
    return every_type_targets(factory, runtime)


def test_the_driver_gets_what_sqlalchemy_gives_it(targets, factory, runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Each create's two INSERTs run on the driver and then by SQLAlchemy with the same
    values: the same SQL and parameters reach the driver (so the same row is stored), and
    the RETURNING row is the one SQLAlchemy reads (the next id, the same type)."""
    ran: list[tuple[str, Any]] = []

    def keep(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith(("INSERT INTO rec_thing ", "INSERT INTO audit_event ")):
            ran.append((statement, parameters))

    row = DirectInsert.row
    returned: list[tuple[Any, Any]] = []

    def both(self, connection, values):  # type: ignore[no-untyped-def]
        mine = row(self, connection, values)
        result = connection.execute(self.statement, values)
        theirs = tuple(result.one()) if result.returns_rows else None
        returned.append((mine, theirs))
        return mine

    monkeypatch.setattr(DirectInsert, "row", both)
    filled = {k: v for k, (_t, _o, v) in FIELDS.items()} | targets
    inputs = [
        filled,
        {},
        filled | {"d": "-0.125", "m": {"amount": "0", "currency": "USD"}, "b": False},
        filled | {"ts": "2026-11-24T23:59:59.999999-05:00", "lt": "", "c": None},
    ]
    event.listen(runtime.engine, "before_cursor_execute", keep)
    try:
        for data in inputs:
            factory.record("thing", **data)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", keep)
    assert len(ran) == 4 * len(inputs)  # each INSERT seen twice: on the driver, by SQLAlchemy
    for (sql, mine), (their_sql, theirs) in zip(ran[::2], ran[1::2], strict=True):
        assert sql == their_sql
        assert type(mine) is type(theirs)
        assert _values(mine) == _values(theirs)
    assert len(returned) == 2 * len(inputs)
    for mine, theirs in returned[::2]:  # the record rows: their ids back
        assert type(mine[0]) is type(theirs[0]) is int and theirs[0] == mine[0] + 1
    assert all(pair == (None, None) for pair in returned[1::2])  # the audit rows: nothing back
    with runtime.transaction() as session:
        ent = runtime.model(session).entities["thing"]
        rows = session.execute(select(ent.table).order_by(ent.table.c.id)).mappings().all()
        audits = session.scalars(
            select(AuditEvent).where(AuditEvent.entity == "thing").order_by(AuditEvent.id)
        ).all()
    assert len(rows) == len(audits) == 2 * len(inputs)
    for mine, theirs in zip(rows[::2], rows[1::2], strict=True):
        assert {**mine, "id": 0} == {**theirs, "id": 0}
    for mine, theirs in zip(audits[::2], audits[1::2], strict=True):
        assert (mine.record_id, mine.action, mine.at, mine.changes) == (
            theirs.record_id,
            theirs.action,
            theirs.at,
            theirs.changes,
        )


def _values(parameters: Any) -> list[tuple[str, Any, type]]:
    """The parameters by name or position, each value with its type (psycopg's JSON
    wrapper, which compares by identity, by the value it wraps)."""
    items = parameters.items() if isinstance(parameters, dict) else enumerate(parameters)
    return [(k, getattr(v, "obj", v), type(v)) for k, v in items]


def _audit_row(**changed: Any) -> dict[str, Any]:
    return {
        "entity": "thing",
        "record_id": 1,
        "action": "create",
        "at": utcnow(),
        "by": None,
        "via": None,
        "changes": {"t": [None, "Ann"]},
    } | changed


def test_other_columns_are_refused_and_a_default_left_to_sqlalchemy(runtime) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        connection = session.connection()
        dialect = connection.dialect
        direct = DirectInsert(AUDIT_INSERT, list(_audit_row()), dialect)
        with pytest.raises(ValueError, match="the INSERT takes"):
            direct.row(connection, _audit_row(extra=1))  # never silently dropped
        with pytest.raises(ValueError, match="the INSERT takes"):
            direct.row(connection, {k: v for k, v in _audit_row().items() if k != "via"})
        without_at = {k: v for k, v in _audit_row().items() if k != "at"}
        with pytest.raises(ValueError, match="Not an INSERT of its parameters"):
            DirectInsert(AUDIT_INSERT, list(without_at), dialect)  # ``at`` has a default
        kept: dict[Any, Any] = {}
        insert_one(kept, connection, AUDIT_INSERT, without_at)  # by SQLAlchemy, the default
        insert_one(kept, connection, AUDIT_INSERT, _audit_row(action="update"))  # direct
        assert sorted(type(v).__name__ for v in kept.values()) == ["DirectInsert", "NoneType"]
        stored = session.execute(select(AuditEvent.action, AuditEvent.at)).all()
        assert [action for action, _at in stored] == ["create", "update"]
        assert all(at is not None for _action, at in stored)


def test_a_batch_of_rows_of_other_keys_is_left_to_sqlalchemy(runtime) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        connection = session.connection()
        direct = DirectInsert(AUDIT_INSERT, list(_audit_row()), connection.dialect)
        mixed = [_audit_row(), _audit_row(action="update", extra=1)]
        with pytest.raises(OtherKeys, match="Rows of other keys"):
            direct.rows(connection, mixed)  # never silently dropped
        returning = AUDIT_INSERT.returning(AuditEvent.id)
        assert insert_returning_each({}, connection, returning, mixed) is None  # (the caller's)
        assert session.execute(select(AuditEvent.action)).all() == []  # nothing ran
        insert_many({}, connection, AUDIT_INSERT, mixed)  # SQLAlchemy's executemany
        stored = session.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars()
        assert list(stored) == ["create", "update"]


def test_a_driver_error_is_sqlalchemys(runtime) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        connection = session.connection()
        with pytest.raises(IntegrityError), connection.begin_nested():
            insert_one({}, connection, AUDIT_INSERT, _audit_row(entity=None))  # NOT NULL
