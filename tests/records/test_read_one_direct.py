"""One record read by its id on the driver's cursor (``CompiledEntity.select_by_id`` compiled
once per dialect, ``records.direct``): the row is the one SQLAlchemy's own execution gives,
key by key, value by value and type by type, for every field type; statement listeners see
the read; an id no row has is a 404 as before."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from test_list_direct import listed_things, typed  # noqa: F401  (a fixture)

from trellis.errors import NotFound
from trellis.records.direct import DirectSelect


def test_a_record_read_alone_comes_off_the_driver_as_sqlalchemy_gives_it(  # type: ignore[no-untyped-def]
    listed_things,  # noqa: F811
    factory,
    runtime,
    monkeypatch,
) -> None:
    compared: list[int] = []
    rows = DirectSelect.rows

    def both(self, connection, params):  # type: ignore[no-untyped-def]
        mine = rows(self, connection, params)
        theirs = connection.execute(self.statement, params).mappings().all()
        assert [typed(r) for r in mine] == [typed(r) for r in theirs]
        compared.append(params["id"])
        return mine

    monkeypatch.setattr(DirectSelect, "rows", both)
    seen: list[str] = []

    def keep(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if "FROM rec_thing \n" in statement:
            seen.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", keep)
    try:
        for record_id in listed_things:
            record = factory.records("get", "thing", record_id)
            assert record.id == record_id and record.created_at.tzinfo is not None
        with pytest.raises(NotFound):
            factory.records("get", "thing", max(listed_things) + 1)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", keep)
    assert compared == [*listed_things, max(listed_things) + 1]
    assert len(seen) == 2 * len(compared)  # the driver's run and SQLAlchemy's, both seen
