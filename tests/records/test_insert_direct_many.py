"""A batch of new records (``RecordService.create_many``) inserted on the driver's cursor
(``records.direct``: on SQLite one ``executemany`` and the ids counted back from the last
rowid, on PostgreSQL, for a batch below COPY's threshold, one pipelined ``executemany``
keeping each row's id, the audit rows by one ``executemany`` on both databases) stores what
SQLAlchemy's own execution of the batch stores: the same record rows and audit rows, every
field type filled and empty, the ids in the order of the records; statement listeners see the
INSERTs. Larger batches go to PostgreSQL by COPY: see test_copy_rows.py."""

from __future__ import annotations

from typing import Any

from configured_fixtures import configured
from every_field_type import FIELDS, every_type_targets
from sqlalchemy import event, select

import trellis.records.audit as audit
import trellis.records.copy_rows as copy_rows
import trellis.records.writing as writing
from trellis.records.audit import AuditEvent
from trellis.records.direct import DirectInsert


@configured
def targets(factory, runtime):  # type: ignore[no-untyped-def]
    """The ``thing`` entity type with a field of every type; the ids its reference and user
    fields take."""
    return every_type_targets(factory, runtime)


def _batch(targets: dict[str, Any]) -> list[dict[str, Any]]:
    filled = {k: v for k, (_t, _o, v) in FIELDS.items()} | targets
    return [
        filled,
        {},
        filled | {"d": "-0.125", "m": {"amount": "0", "currency": "USD"}, "b": False},
        filled | {"ts": "2026-11-24T23:59:59.999999-05:00", "lt": "", "c": None},
    ]


def _stored(runtime, ids: list[int]) -> tuple[list[Any], list[Any]]:  # type: ignore[no-untyped-def]
    """The record rows and audit rows of ``ids``, without what differs between two batches
    (ids, times)."""
    with runtime.transaction() as session:
        table = runtime.model(session).entities["thing"].table
        skip = {"id", "created_at", "updated_at"}
        rows = [
            {k: v for k, v in row.items() if k not in skip}
            for row in session.execute(
                select(table).where(table.c.id.in_(ids)).order_by(table.c.id)
            ).mappings()
        ]
        audits = [
            (a.action, a.by, a.via, a.changes)
            for a in session.scalars(
                select(AuditEvent)
                .where(AuditEvent.entity == "thing", AuditEvent.record_id.in_(ids))
                .order_by(AuditEvent.record_id)
            )
        ]
    return rows, audits


def test_a_batch_on_the_driver_stores_what_sqlalchemy_stores(targets, runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[str, bool]] = []

    def keep(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith(("INSERT INTO rec_thing ", "INSERT INTO audit_event ")):
            seen.append((statement.split()[2], executemany))

    def create_many() -> list[int]:
        with runtime.transaction() as session:
            records = runtime.records(session).create_many("thing", _batch(targets))
        return [record.id for record in records]

    ran: list[tuple[str, int]] = []
    for name in ("rows_returning", "rows"):
        original = getattr(DirectInsert, name)

        def spy(self, connection, rows, _name=name, _original=original):  # type: ignore[no-untyped-def]
            ran.append((_name, len(rows)))
            return _original(self, connection, rows)

        monkeypatch.setattr(DirectInsert, name, spy)
    monkeypatch.setattr(copy_rows, "COPY_FROM_ROWS", 10**6)  # (the INSERT path, on any batch)
    event.listen(runtime.engine, "before_cursor_execute", keep)
    try:
        direct = create_many()
        by_driver = list(seen)
        seen.clear()
        # the same batch by SQLAlchemy's own execution
        monkeypatch.setattr(writing, "copy_or_insert_returning_each", lambda *_a: None)
        monkeypatch.setattr(
            audit,
            "copy_or_insert_many",
            lambda _kept, connection, statement, rows: connection.execute(statement, rows),
        )
        theirs = create_many()
    finally:
        event.remove(runtime.engine, "before_cursor_execute", keep)
    assert direct == sorted(direct) and theirs == sorted(theirs) and direct[-1] < theirs[0]
    assert _stored(runtime, direct) == _stored(runtime, theirs)
    rows, audits = _stored(runtime, direct)
    assert len(rows) == len(audits) == 4 and all(action == "create" for action, *_ in audits)
    assert ("audit_event", True) in by_driver  # the audit rows: one executemany, listeners told
    assert any(table == "rec_thing" for table, _many in by_driver)
    # the driver's cursor took the batch: the record rows (one executemany: on SQLite the
    # ids from the last rowid, on PostgreSQL pipelined), then the audit rows
    assert ran == [("rows_returning", 4), ("rows", 4)]
    assert by_driver.count(("rec_thing", True)) == 1
    assert ("rec_thing", False) not in by_driver


def test_each_record_of_a_batch_gets_the_id_of_its_own_row(factory, runtime) -> None:  # type: ignore[no-untyped-def]
    """The ids handed back are those of the rows written, in order, also when the table's
    highest rows were deleted before (SQLite then gives their ids again: one more than the
    largest left) and between batches of one transaction."""
    factory.entity("part", {"name": "text", "size": "integer"})

    def batch(first: int, count: int) -> list[tuple[int, str]]:
        with runtime.transaction() as session:
            created = runtime.records(session).create_many(
                "part", [{"name": f"p{i}", "size": i} for i in range(first, first + count)]
            )
        return [(record.id, record.values["name"]) for record in created]

    def stored() -> list[tuple[int, str]]:
        with runtime.transaction() as session:
            table = runtime.model(session).entities["part"].table
            return [tuple(row) for row in session.execute(select(table.c.id, table.c.name))]

    made = batch(0, 5)
    assert [name for _id, name in made] == [f"p{i}" for i in range(5)]
    with runtime.transaction() as session:
        table = runtime.model(session).entities["part"].table
        session.execute(table.delete().where(table.c.id > made[2][0]))  # the two highest
    made = made[:3] + batch(5, 4)
    with runtime.transaction() as session:  # two batches in one transaction
        records = runtime.records(session)
        for first in (9, 12):
            created = records.create_many(
                "part", [{"name": f"p{i}", "size": i} for i in range(first, first + 3)]
            )
            made += [(record.id, record.values["name"]) for record in created]
    assert len({record_id for record_id, _name in made}) == 13
    assert sorted(stored()) == sorted(made)
