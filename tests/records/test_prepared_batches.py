"""A small batch of new records (fewer than ``records.copy_rows.COPY_FROM_ROWS``; larger ones
go by COPY, see test_copy_rows.py) goes to PostgreSQL as one pipelined ``executemany`` of a
statement prepared on the server (``records.direct``), and a single record's INSERT runs
prepared too:
the INSERT is parsed and planned once per connection, not once per row. The engine otherwise
prepares nothing, because a prepared statement fails once a column it returns changes type;
these INSERTs return only the id, so they keep working on the same connection while the entity
type's columns change type, come and go, and the table is dropped and built again."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text

import trellis.records.copy_rows as copy_rows
from trellis.errors import ValidationFailed


def _create(
    factory, values: list[dict[str, Any]], one_by_one: bool = False
) -> tuple[list[int], int]:  # type: ignore[no-untyped-def]
    """Create ``values`` as parts in one batch (or ``one_by_one``): their ids, and how many
    INSERTs into the parts' table the connection holds prepared (always 0 on SQLite)."""
    runtime = factory.runtime
    with runtime.transaction() as session:
        records = runtime.records(session)
        if one_by_one:
            created = [records.create("part", each) for each in values]
        else:
            created = records.create_many("part", values)
        prepared = 0
        if runtime.engine.dialect.name == "postgresql":
            prepared = session.execute(
                text(
                    "SELECT count(*) FROM pg_prepared_statements"
                    " WHERE statement LIKE 'INSERT INTO rec_part %'"
                )
            ).scalar_one()
    return [record.id for record in created], prepared


def _stored(factory, ids: list[int], key: str) -> list[Any]:  # type: ignore[no-untyped-def]
    runtime = factory.runtime
    with runtime.transaction() as session:
        table = runtime.model(session).entities["part"].table
        rows = session.execute(select(table.c[key]).where(table.c.id.in_(ids)).order_by(table.c.id))
        return list(rows.scalars())


def test_batches_stay_prepared_while_the_columns_change(factory) -> None:  # type: ignore[no-untyped-def]
    assert copy_rows.COPY_FROM_ROWS > 2  # (the batches of two below go by the INSERT)
    postgres = factory.runtime.engine.dialect.name == "postgresql"
    # (one request at a time: the pool serves them all from one connection)
    factory.entity("part", {"name": "text", "qty": "integer"}, title="{name}")

    ids, prepared = _create(factory, [{"name": "a", "qty": 1}, {"name": "b", "qty": 2}])
    assert _stored(factory, ids, "qty") == [1, 2]
    assert prepared == (1 if postgres else 0)  # the record rows' INSERT, prepared
    ids, prepared = _create(factory, [{"name": "a2", "qty": 3}, {"name": "b2", "qty": 4}])
    assert prepared == (1 if postgres else 0)  # and used again, not prepared anew

    ids, prepared = _create(factory, [{"name": "a3", "qty": 5}, {"name": "b3", "qty": 6}], True)
    assert _stored(factory, ids, "qty") == [5, 6]
    assert prepared == (1 if postgres else 0)  # a single record's INSERT: the same statement

    factory.meta("update_field", "part", "qty", type="decimal")
    ids, _ = _create(factory, [{"name": "c", "qty": "1.25"}, {"name": "d", "qty": "7"}])
    assert _stored(factory, ids, "qty") == [Decimal("1.25"), Decimal("7")]
    ids, _ = _create(factory, [{"name": "c2", "qty": "2.5"}, {"name": "d2", "qty": "8"}], True)
    assert _stored(factory, ids, "qty") == [Decimal("2.5"), Decimal("8")]

    factory.meta("add_field", "part", "colour", "Colour", "text")
    ids, _ = _create(factory, [{"name": "e", "colour": "red"}, {"name": "f", "qty": "2"}])
    assert _stored(factory, ids, "colour") == ["red", None]

    factory.meta("archive_field", "part", "qty")
    factory.meta("purge_field", "part", "qty")
    ids, _ = _create(factory, [{"name": "g", "colour": "blue"}, {"name": "h"}])
    assert _stored(factory, ids, "name") == ["g", "h"]

    # the table dropped and built again under the same name, its columns of other types
    factory.meta("archive_entity", "part")
    factory.meta("purge_entity", "part")
    factory.entity("part", {"name": "integer", "qty": "text"}, title="{name}")
    ids, _ = _create(factory, [{"name": 5, "qty": "five"}, {"name": 6, "qty": "six"}])
    assert _stored(factory, ids, "qty") == ["five", "six"]
    assert _stored(factory, ids, "name") == [5, 6]
    ids, _ = _create(factory, [{"name": 7, "qty": "seven"}, {"name": 8}], True)
    assert _stored(factory, ids, "qty") == ["seven", None]


def test_a_unique_violation_inside_a_batch_leaves_the_transaction_usable(
    factory, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """A value taken by a concurrent writer fails the batch's INSERT part way through its
    rows (on PostgreSQL in the middle of the pipeline): the batch is refused with the field's
    error, none of its rows is kept, and the transaction goes on. (The same in a COPY:
    test_copy_rows.py.)"""
    monkeypatch.setattr(copy_rows, "COPY_FROM_ROWS", 10**6)  # (the pipelined INSERT)
    factory.entity("company", {"name": "text", "tin": ("text", {"unique": True})})
    runtime = factory.runtime
    with runtime.transaction() as session:
        service = runtime.records(session)
        service._check_unique = lambda *args: None  # as if a concurrent writer won the race
        service.create("company", {"name": "first", "tin": "X3"})
        batch = [{"name": f"n{i}", "tin": f"X{i}"} for i in range(1, 6)]  # X3 the third
        with pytest.raises(ValidationFailed) as failure:
            service.create_many("company", batch)
        assert failure.value.errors == {"tin": ["Another Company has this Tin already."]}
        kept = service.create_many("company", [{"name": "n6", "tin": "X6"}, {"tin": "X7"}])
        assert [record.values["tin"] for record in kept] == ["X6", "X7"]
    assert sorted(r.values["tin"] for r in factory.records("list", "company").items) == [
        "X3",
        "X6",
        "X7",
    ]
