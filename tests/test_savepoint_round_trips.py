"""On PostgreSQL a SAVEPOINT and a RELEASE SAVEPOINT cost no round trip of their own: they go
to the server with the next statement (a RELEASE at the end of the transaction not at all).
Savepoints keep their meaning on both databases: what is rolled back to one goes, what is
released stays with the enclosing transaction, an error inside one fails where it did.
Writes sent together (``db.sent_together``) are one round trip, their error raised at its end
as SQLAlchemy raises it."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
from sqlalchemy import Engine, Integer, cast, column, literal, select, table, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from tests.round_trips import round_trips
from trellis.db import sent_together
from trellis.records.direct import DirectSelect


@pytest.fixture
def engine(runtime) -> Engine:  # type: ignore[no-untyped-def]
    with runtime.engine.begin() as conn:
        conn.execute(text("CREATE TABLE sp_probe (id INTEGER PRIMARY KEY, note VARCHAR(20))"))
    return runtime.engine  # type: ignore[no-any-return]


def _ids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.scalars(text("SELECT id FROM sp_probe ORDER BY id")))


def _add(conn, *ids: int) -> None:  # type: ignore[no-untyped-def]
    conn.execute(text("INSERT INTO sp_probe (id) VALUES (:id)"), [{"id": i} for i in ids])


def test_rolled_back_and_released_savepoints_keep_their_meaning(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        _add(conn, 1)
        inner = conn.begin_nested()
        _add(conn, 2)
        inner.rollback()  # 2 goes
        with conn.begin_nested():  # nothing ran in it
            pass
        outer = conn.begin_nested()
        with conn.begin_nested():
            _add(conn, 3, 4)  # an executemany right after the SAVEPOINTs
        conn.execute(text("INSERT INTO sp_probe (id) VALUES (:id)"), {"id": 5})
        outer.rollback()  # 3, 4 (released into it) and 5 go
        empty = conn.begin_nested()
        empty.rollback()  # nothing ran in it
        with conn.begin_nested():
            conn.exec_driver_sql("INSERT INTO sp_probe (id) VALUES (6)")  # no parameters
        _add(conn, 7)
    assert _ids(engine) == [1, 6, 7]


def test_an_error_inside_a_savepoint_is_rolled_back_with_it(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        _add(conn, 1)
        with pytest.raises(IntegrityError), conn.begin_nested():
            _add(conn, 2)
            conn.execute(text("INSERT INTO sp_probe (id) VALUES (:id)"), {"id": 1})
        _add(conn, 3)
    assert _ids(engine) == [1, 3]


def test_a_failed_transaction_fails_its_savepoint_at_once(engine) -> None:  # type: ignore[no-untyped-def]
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite goes on after a failed statement")
    with engine.connect() as conn:
        _add(conn, 1)
        with pytest.raises(IntegrityError):
            _add(conn, 1)
        with pytest.raises(DBAPIError, match="current transaction is aborted"):
            conn.begin_nested()
        conn.rollback()
    autocommit = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    with autocommit as conn, pytest.raises(DBAPIError, match="transaction blocks"):
        conn.begin_nested()  # no transaction to hold it in
    with engine.connect() as conn:
        savepoint = conn.begin_nested()
        _add(conn, 1)
        with pytest.raises(IntegrityError):
            conn.execute(text("INSERT INTO sp_probe (id) VALUES (:id)"), {"id": 1})
        with pytest.raises(DBAPIError, match="current transaction is aborted"):
            savepoint.commit()  # the RELEASE fails where it did
        conn.rollback()
    assert _ids(engine) == []


def test_savepoint_commands_go_with_the_next_statement(engine) -> None:  # type: ignore[no-untyped-def]
    if engine.dialect.name != "postgresql":
        pytest.skip("round trips to a server")
    with round_trips(engine) as trips, engine.begin() as conn:
        _add(conn, 1)
        with conn.begin_nested():
            conn.execute(text("INSERT INTO sp_probe (id) VALUES (:id)"), {"id": 2})
        conn.execute(text("SELECT count(*) FROM sp_probe WHERE id > :id"), {"id": 0})
    sent = [[s.split(" (")[0] for s in trip] for trip in trips]
    assert sent == [
        ["BEGIN READ WRITE"],
        ["INSERT INTO sp_probe"],
        ["SAVEPOINT sa_savepoint_1", "INSERT INTO sp_probe"],
        ["RELEASE SAVEPOINT sa_savepoint_1", "SELECT count(*) FROM sp_probe WHERE id > $1"],
        ["COMMIT"],
    ], trips


def test_writes_sent_together_are_one_round_trip(engine) -> None:  # type: ignore[no-untyped-def]
    tracing = round_trips(engine) if engine.dialect.name == "postgresql" else nullcontext([])
    with tracing as trips, engine.begin() as conn:
        conn.execute(text("SELECT count(*) FROM sp_probe WHERE id > :id"), {"id": 0})
        with sent_together(conn):
            _add(conn, 1, 2)
            conn.execute(text("INSERT INTO sp_probe (id) VALUES (:id)"), {"id": 3})
            _add(conn, 4, 5)
    assert _ids(engine) == [1, 2, 3, 4, 5]
    if engine.dialect.name == "postgresql":
        assert [len(trip) for trip in trips] == [1, 1, 5, 1], trips  # BEGIN, SELECT, ..., COMMIT


def test_an_error_of_writes_sent_together_is_raised_as_sqlalchemy_raises_it(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        _add(conn, 1)
        savepoint = conn.begin_nested()
        with pytest.raises(IntegrityError, match="sp_probe"), sent_together(conn):
            _add(conn, 2)
            conn.execute(text("INSERT INTO sp_probe (id) VALUES (:id)"), {"id": 1})
            _add(conn, 3)  # (not run)
        savepoint.rollback()
        _add(conn, 4)
    assert _ids(engine) == [1, 4]


def test_a_select_on_the_drivers_cursor_runs_inside_the_savepoint(engine) -> None:  # type: ignore[no-untyped-def]
    """A failed read on the driver's cursor (a prepared list page) inside a savepoint is
    rolled back with it: the savepoint was sent before it."""
    probe = table("sp_probe", column("id", Integer))
    broken = DirectSelect(
        select(probe.c.id).where(probe.c.id == cast(literal("x"), Integer)), engine.dialect
    )
    with engine.begin() as conn:
        _add(conn, 1)
        savepoint = conn.begin_nested()
        with pytest.raises(DBAPIError):
            broken.rows(conn, {})  # 'x' is no integer (PostgreSQL; SQLite reads none)
            raise DBAPIError("SELECT", {}, Exception("SQLite casts 'x' to 0"))
        savepoint.rollback()
        _add(conn, 2)
    assert _ids(engine) == [1, 2]
