"""On PostgreSQL a read-only transaction runs in autocommit (``db.read_only_engine``): its
statements and nothing else go to the server, no ``BEGIN`` and no ``ROLLBACK``; it still
cannot write (every connection has ``default_transaction_read_only`` on, so each statement is
a read-only transaction of its own). Writing transactions say ``BEGIN READ WRITE``, also on a
connection that served reads before. On SQLite a read-only transaction cannot write either."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.round_trips import round_trips


@pytest.fixture
def probe_table(runtime):  # type: ignore[no-untyped-def]
    with runtime.engine.begin() as conn:
        conn.execute(text("CREATE TABLE ro_probe (id INTEGER PRIMARY KEY)"))
        conn.execute(text("INSERT INTO ro_probe (id) VALUES (1)"))
    return runtime


def _count(session) -> int:  # type: ignore[no-untyped-def]
    return session.execute(text("SELECT count(*) FROM ro_probe")).scalar_one()


def test_a_read_only_transaction_cannot_write(probe_table) -> None:  # type: ignore[no-untyped-def]
    runtime = probe_table
    for statement in (
        "INSERT INTO ro_probe (id) VALUES (2)",
        "UPDATE ro_probe SET id = 3",
        "DELETE FROM ro_probe",
        "CREATE TABLE ro_other (id INTEGER)",
    ):
        refused = pytest.raises(DBAPIError, match=r"read-?only")
        with refused, runtime.transaction(read_only=True) as session:
            session.execute(text(statement))
    with runtime.transaction(read_only=True) as session:
        assert _count(session) == 1
        # each statement reads what is committed when it runs (READ COMMITTED, as before)
        with runtime.engine.begin() as other:
            other.execute(text("INSERT INTO ro_probe (id) VALUES (2)"))
        assert _count(session) == (2 if runtime.engine.dialect.name == "postgresql" else 1)


def test_reads_send_only_their_statements_and_writes_begin_read_write(probe_table) -> None:  # type: ignore[no-untyped-def]
    runtime = probe_table
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("round trips to a server")
    runtime.engine.dispose()  # one connection from here on
    with round_trips(runtime.engine) as trips:
        seen = set()
        for _ in range(2):
            with runtime.transaction(read_only=True) as session:
                seen.add(id(session.connection().connection.dbapi_connection))
                assert _count(session) == 1
            with runtime.transaction(read_only=False) as session:
                seen.add(id(session.connection().connection.dbapi_connection))
                session.execute(text("UPDATE ro_probe SET id = id"))
    assert len(seen) == 1  # the same pooled connection served the reads and the writes
    sent = [[s.split(" (")[0] for s in trip] for trip in trips]
    assert sent == 2 * [
        ["SELECT count(*) FROM ro_probe"],
        ["BEGIN READ WRITE"],
        ["UPDATE ro_probe SET id = id"],
        ["COMMIT"],
    ], trips
