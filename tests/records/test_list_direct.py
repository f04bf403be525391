"""List pages read on the driver's cursor (records.direct): the rows are the ones SQLAlchemy's
own execution gives (the same keys, values and types for every field type: datetimes, dates,
Decimals, booleans), for first pages, pages by cursor (the cursor's values bound with their
columns' types) and ``in`` lists (expanded); statement listeners still see the page; a driver
error comes out as SQLAlchemy's exception; and the records a list gives equal the ones read
one by one."""

from __future__ import annotations

from typing import Any

import pytest
from configured_fixtures import configured
from every_field_type import every_type_entity, filled_values
from sqlalchemy import event, literal_column, select
from sqlalchemy.exc import DBAPIError

from trellis.records.direct import DirectSelect
from trellis.records.query import Filter


@configured
def listed_things(factory, runtime):  # type: ignore[no-untyped-def]
    every_type_entity(factory)
    filled = filled_values(factory, runtime)
    made = [factory.record("thing", **filled).id, factory.record("thing").id]
    for i in range(4):  # more filled rows: other decimals, amounts, times, flags
        made.append(
            factory.record(
                "thing",
                **filled
                | {
                    "i": i,
                    "d": f"{i}.125",
                    "m": {"amount": f"{i * 7}.05", "currency": "EUR"},
                    "b": i % 2 == 0,
                    "ts": f"2026-11-2{i}T0{i}:15:00+00:00",
                    "c": ["red", "green", "blue"][i % 3],
                },
            ).id
        )
    return made


def typed(row: Any) -> list[tuple[str, Any, type]]:
    return [(k, v, type(v)) for k, v in dict(row).items()]


LISTS = [
    {"sort": ["id"]},
    {"sort": ["-ts"], "per_page": 2},
    {"sort": ["d"], "per_page": 2},
    {"sort": ["-created_at"], "per_page": 4},
    {"filters": [Filter("c", "in", "red,blue")], "sort": ["-m"], "per_page": 2},
    {"filters": [Filter("ts", "isnull", "false"), Filter("b", "eq", "true")]},
    {"filters": [Filter("dt", "lte", "2026-12-01"), Filter("m", "gte", "7")], "sort": ["b"]},
]


@pytest.mark.parametrize("kwargs", LISTS)
def test_the_driver_gives_the_rows_sqlalchemy_gives(  # type: ignore[no-untyped-def]
    listed_things, factory, runtime, monkeypatch, kwargs
) -> None:
    """Each page (the first and every page by cursor after it), its statement run on the
    driver and by SQLAlchemy with the same parameters: equal rows, value by value and type by
    type; statement listeners see the page as they see any statement."""
    compared: list[int] = []
    rows = DirectSelect.rows

    def both(self, connection, params):  # type: ignore[no-untyped-def]
        mine = rows(self, connection, params)
        theirs = connection.execute(self.statement, params).mappings().all()
        assert [typed(r) for r in mine] == [typed(r) for r in theirs]
        compared.append(len(mine))
        return mine

    monkeypatch.setattr(DirectSelect, "rows", both)
    seen: list[str] = []

    def keep(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if "FROM rec_thing" in statement and "ORDER BY" in statement:
            seen.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", keep)
    try:
        whole = factory.records("list", "thing", **kwargs | {"per_page": 100})
        walked, after = [], None
        while True:
            page = factory.records("list", "thing", **kwargs, after=after)
            walked += [r.id for r in page.items]
            after = page.next_cursor
            if after is None:
                break
    finally:
        event.remove(runtime.engine, "before_cursor_execute", keep)
    assert walked == [r.id for r in whole.items] and walked
    assert len(compared) >= 2 and sum(compared) >= len(walked)
    # each run on the driver was seen by the listener (and SQLAlchemy's own run of it too)
    assert len(seen) == 2 * len(compared)


def test_a_listed_record_is_the_record_read_alone(listed_things, factory) -> None:  # type: ignore[no-untyped-def]
    page = factory.records("list", "thing", sort=["id"])
    assert [r.id for r in page.items] == listed_things
    for record in page.items:
        alone = factory.records("get", "thing", record.id)
        assert record == alone
        assert [type(v) for v in record.values.values()] == [type(v) for v in alone.values.values()]
        assert record.created_at.tzinfo is not None and record.updated_at.tzinfo is not None


def test_a_driver_error_is_sqlalchemys(listed_things, runtime) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction(read_only=True) as session:
        table = runtime.model(session).entities["thing"].table
        connection = session.connection()
        broken = DirectSelect(
            select(table.c.id, literal_column("no_such_column")), connection.dialect
        )
        with pytest.raises(DBAPIError):
            broken.rows(connection, {})
