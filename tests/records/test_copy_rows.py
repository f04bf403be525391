"""A batch of new records on PostgreSQL goes by COPY (``records.copy_rows``: the ids from the
id column's sequence first, then ``COPY ... FROM STDIN`` of the record rows and of their audit
rows), and stores byte for byte what the prepared INSERT and SQLAlchemy's own execution store:
every field type filled and empty, strings with tabs, newlines, backslashes and other
characters COPY's text format escapes. The ids come back in the order of the records, each
its own row's; a unique value lost to a concurrent writer is the field's 422 with nothing of
the batch kept; a SAVEPOINT the engine holds back is sent before the COPY; statement
listeners see the COPY. On SQLite the same batches take the INSERT path: the tests that do not
look at the COPY itself run there too."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from configured_fixtures import configured
from every_field_type import FIELDS, every_type_targets
from sqlalchemy import Text, cast, event, func, select

import trellis.records.audit as audit
import trellis.records.copy_rows as copy_rows
import trellis.records.writing as writing
from trellis.errors import ValidationFailed
from trellis.records.audit import AUDIT_INSERT, AuditEvent, write_audit_rows
from trellis.records.copy_rows import COPY_FROM_ROWS, CopyInsert

#: strings COPY's text format escapes or could read otherwise (its NULL is ``\N``, ``\.``
#: ended the data in old protocols)
AWKWARD = ["a\tb", "back\\slash \\N", "\\.", "two\nlines\r\n", "ünï ✓ 😀 \x7f", "\\", "NULL"]


@configured
def targets(factory, runtime):  # type: ignore[no-untyped-def]
    """The ``thing`` entity type with a field of every type; the ids its reference and user
    fields take."""
    return every_type_targets(factory, runtime)


def _postgres(runtime) -> bool:  # type: ignore[no-untyped-def]
    return runtime.engine.dialect.name == "postgresql"


def _batch(targets: dict[str, Any]) -> list[dict[str, Any]]:
    """Records of every field type: filled, empty, other values and awkward strings."""
    filled = {k: v for k, (_t, _o, v) in FIELDS.items()} | targets
    batch = [
        filled,
        {},
        filled | {"d": "-0.125", "m": {"amount": "0", "currency": "USD"}, "b": False},
        filled | {"ts": "2026-11-24T23:59:59.999999-05:00", "lt": "", "c": None, "i": -(2**40)},
        {"dt": "2000-02-29", "ts": "1999-12-31T23:59:59", "d": "99999.999", "mc": []},
    ]
    batch += [  # (a text field is one line)
        {"t": " ".join(text.split()) or "x", "lt": text, "e": "a@b.example"} for text in AWKWARD
    ]
    batch.append({"lt": "\t".join(AWKWARD), "p": "+1 (555) 0100"})
    assert len(batch) >= COPY_FROM_ROWS
    return batch


def _stored(runtime, ids: list[int]) -> tuple[list[Any], list[Any]]:  # type: ignore[no-untyped-def]
    """The record rows and audit rows of ``ids`` as the database's text of each column
    (byte for byte, ``changes`` as the JSON text stored), without what differs between two
    batches (ids, times)."""
    with runtime.transaction() as session:
        table = runtime.model(session).entities["thing"].table
        skip = {"id", "created_at", "updated_at"}
        columns = [cast(c, Text).label(c.name) for c in table.c if c.name not in skip]
        rows = (
            session.execute(select(*columns).where(table.c.id.in_(ids)).order_by(table.c.id))
            .mappings()
            .all()
        )
        a = AuditEvent.__table__.c
        audits = session.execute(
            select(a.action, a.by, a.via, cast(a.changes, Text))
            .where(a.entity == "thing", a.record_id.in_(ids))
            .order_by(a.record_id)
        ).all()
    return [dict(row) for row in rows], [tuple(row) for row in audits]


def _create_many(runtime, values: list[dict[str, Any]], entity: str = "thing") -> list[int]:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        records = runtime.records(session).create_many(entity, values)
    return [record.id for record in records]


def test_a_batch_by_copy_stores_what_the_insert_stores(targets, runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    if not _postgres(runtime):
        pytest.skip("COPY is PostgreSQL's (SQLite: test_insert_direct_many)")
    seen: list[tuple[str, bool, int]] = []
    told_after: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith(("COPY ", "INSERT INTO rec_thing ", "INSERT INTO audit_event ")):
            seen.append((" ".join(statement.split()[:2]), executemany, len(parameters)))

    def after(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("COPY "):
            told_after.append(statement.split()[1])

    copied: list[tuple[str, int]] = []
    for name in ("rows_returning", "rows"):
        original = getattr(CopyInsert, name)

        def spy(self, connection, columns, _name=name, _original=original):  # type: ignore[no-untyped-def]
            copied.append((_name, len(columns[0])))
            return _original(self, connection, columns)

        monkeypatch.setattr(CopyInsert, name, spy)
    batch = _batch(targets)
    event.listen(runtime.engine, "before_cursor_execute", before)
    event.listen(runtime.engine, "after_cursor_execute", after)
    try:
        by_copy = _create_many(runtime, batch)
        assert copied == [("rows_returning", len(batch)), ("rows", len(batch))]
        # statement listeners see each COPY once, its rows as the parameters of a "many"
        assert seen == [
            ("COPY rec_thing", True, len(batch)),
            ("COPY audit_event", True, len(batch)),
        ]
        assert told_after == ["rec_thing", "audit_event"]
        seen.clear()
        # the same batch by the pipelined prepared INSERT (below COPY's threshold)
        monkeypatch.setattr(copy_rows, "COPY_FROM_ROWS", len(batch) + 1)
        by_insert = _create_many(runtime, batch)
        assert not [s for s in seen if s[0].startswith("COPY")]
        # and by SQLAlchemy's own execution
        monkeypatch.setattr(writing, "copy_or_insert_returning_each", lambda *_a: None)
        monkeypatch.setattr(
            audit,
            "copy_or_insert_many",
            lambda _kept, connection, statement, rows: connection.execute(statement, rows),
        )
        by_sqlalchemy = _create_many(runtime, batch)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", before)
        event.remove(runtime.engine, "after_cursor_execute", after)
    assert len(copied) == 2  # (nothing copied since)
    assert by_copy == sorted(by_copy) and by_copy[-1] < by_insert[0]
    stored = _stored(runtime, by_copy)
    assert stored == _stored(runtime, by_insert) == _stored(runtime, by_sqlalchemy)
    rows, audits = stored
    assert len(rows) == len(audits) == len(batch)
    assert [row["lt"] for row in rows[-len(AWKWARD) - 1 : -1]] == AWKWARD
    assert rows[-1]["lt"] == "\t".join(AWKWARD) and rows[1]["lt"] is None
    with runtime.transaction() as session:  # the audit row's time is its record's, exactly
        table = runtime.model(session).entities["thing"].table
        a = AuditEvent.__table__.c
        times = session.execute(
            select(cast(table.c.created_at, Text), cast(a.at, Text))
            .join(AuditEvent, (a.record_id == table.c.id) & (a.entity == "thing"))
            .where(table.c.id.in_(by_copy))
        ).all()
    assert len(times) == len(batch) and all(record == at for record, at in times)


def test_each_record_of_a_copied_batch_gets_the_id_of_its_own_row(factory, runtime) -> None:  # type: ignore[no-untyped-def]
    """The ids handed back are those of the rows written, in order: also when single
    creates and other batches took ids from the sequence between, in one transaction."""
    factory.entity("part", {"name": "text", "size": "integer"})
    n = COPY_FROM_ROWS + 3
    made: list[tuple[int, str]] = []
    with runtime.transaction() as session:
        records = runtime.records(session)
        for first in (0, 100, 200):
            created = records.create_many(
                "part", [{"name": f"p{i}", "size": i} for i in range(first, first + n)]
            )
            made += [(record.id, record.values["name"]) for record in created]
            one = records.create("part", {"name": f"single{first}"})
            made.append((one.id, "single" + str(first)))
    ids = [record_id for record_id, _name in made]
    assert ids == sorted(ids) and len(set(ids)) == len(made)
    with runtime.transaction() as session:
        table = runtime.model(session).entities["part"].table
        stored = {tuple(row) for row in session.execute(select(table.c.id, table.c.name))}
    assert stored == set(made)


def test_a_unique_violation_inside_a_copied_batch_is_the_fields_error(factory, runtime) -> None:  # type: ignore[no-untyped-def]
    """A value taken by a concurrent writer fails the batch's COPY: the batch is refused with
    the field's error, none of its rows (nor audit rows) is kept, the transaction goes on
    (another COPY batch, a single create)."""
    factory.entity("company", {"name": "text", "tin": ("text", {"unique": True})})
    n = COPY_FROM_ROWS + 2
    with runtime.transaction() as session:
        service = runtime.records(session)
        service._check_unique = lambda *args: None  # as if a concurrent writer won the race
        service.create("company", {"name": "first", "tin": "X3"})
        batch = [{"name": f"n{i}", "tin": f"X{i}"} for i in range(1, n + 1)]  # X3 the third
        with pytest.raises(ValidationFailed) as failure:
            service.create_many("company", batch)
        assert failure.value.errors == {"tin": ["Another Company has this Tin already."]}
        kept = service.create_many("company", [{"tin": f"Y{i}"} for i in range(n)])
        assert [record.values["tin"] for record in kept] == [f"Y{i}" for i in range(n)]
        service.create("company", {"tin": "Z"})
    tins = sorted(r.values["tin"] for r in factory.records("list", "company", per_page=100).items)
    assert tins == sorted(["X3", "Z", *(f"Y{i}" for i in range(n))])
    with runtime.transaction() as session:
        audited = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.entity == "company")
        )
    assert audited == n + 2


def test_a_batch_in_a_savepoint_rolled_back_leaves_nothing(factory, runtime) -> None:  # type: ignore[no-untyped-def]
    """The SAVEPOINT the engine holds back (on PostgreSQL it rides the next statement) is
    sent before the COPY: rolled back, the savepoint takes the copied rows with it. With a
    unique field the batch has a savepoint of its own inside (released before the audit
    rows' COPY)."""
    factory.entity("part", {"name": "text"})
    factory.entity("company", {"name": "text", "tin": ("text", {"unique": True})})
    n = COPY_FROM_ROWS + 1
    with runtime.transaction() as session:
        records = runtime.records(session)
        for entity, key in (("part", "name"), ("company", "tin")):
            nested = session.begin_nested()
            records.create_many(entity, [{key: f"{entity}{i}"} for i in range(n)])
            nested.rollback()
        nested = session.begin_nested()  # the audit rows' COPY the first statement in it
        write_audit_rows(
            session,
            [
                {
                    "entity": "part",
                    "record_id": i,
                    "action": "create",
                    "at": datetime(2026, 1, 1),
                    "by": None,
                    "via": None,
                    "changes": {},
                }
                for i in range(n)
            ],
            kept={},
        )
        nested.rollback()
        records.create("part", {"name": "kept"})
    assert [r.values["name"] for r in factory.records("list", "part").items] == ["kept"]
    assert factory.records("list", "company").total == 0
    with runtime.transaction() as session:
        audited = session.execute(select(AuditEvent.entity, AuditEvent.action)).all()
    assert [tuple(row) for row in audited] == [("part", "create")]


def test_an_aware_time_for_a_naive_column_is_stored_as_the_insert_stores_it(runtime) -> None:  # type: ignore[no-untyped-def]
    """A COPY would store an aware datetime's wall time without its offset in a TIMESTAMP
    WITHOUT TIME ZONE, where the INSERT converts it: such a batch goes by the INSERT."""
    at = datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=5)))
    rows = [
        {
            "entity": "probe",
            "record_id": i,
            "action": a,
            "at": at,
            "by": 7,
            "via": None,
            "changes": {"k": [None, "\t"]},
        }
        for i in range(COPY_FROM_ROWS)
        for a in ("kept", "theirs")
    ]
    with runtime.transaction() as session:
        connection = session.connection()
        write_audit_rows(session, [r for r in rows if r["action"] == "kept"], connection, {})
        connection.execute(AUDIT_INSERT, [r for r in rows if r["action"] == "theirs"])
        a = AuditEvent.__table__.c
        stored = session.execute(
            select(a.action, a.record_id, cast(a.at, Text), cast(a.changes, Text))
            .where(a.entity == "probe")
            .order_by(a.record_id, a.action)
        ).all()
    ours = [row[1:] for row in stored if row[0] == "kept"]
    theirs = [row[1:] for row in stored if row[0] == "theirs"]
    assert len(ours) == COPY_FROM_ROWS and ours == theirs
