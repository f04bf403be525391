"""A SQLite reader keeps the metamodel stamp on its pooled connection while no other
connection has committed (``PRAGMA data_version``): a run of reads costs no stamp statement,
and a change still counts on the next transaction, whichever connection made it: another
worker's, another connection of this one, or the reader's own connection (whose own commits
do not move its ``data_version``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import event, text

from trellis.runtime import Runtime


def driver_connection(session):  # type: ignore[no-untyped-def]
    return session.connection().connection.dbapi_connection


@pytest.fixture
def other(settings) -> Iterator[Runtime]:  # type: ignore[no-untyped-def]
    """A second worker on the same database."""
    worker = Runtime.from_settings(settings)
    yield worker
    worker.dispose()


@pytest.fixture
def stamp_reads(other) -> list[str]:  # type: ignore[no-untyped-def]
    """The metamodel stamp statements ``other`` runs."""
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        if "meta_state" in statement:
            seen.append(statement)

    event.listen(other.engine, "before_cursor_execute", note)
    return seen


def fields_read(worker: Runtime) -> set[str]:
    with worker.transaction(read_only=True) as session:
        return set(worker.model(session).entities["thing"].fields)


def test_a_reader_reads_the_stamp_once_while_nothing_is_committed(
    runtime, other, factory, stamp_reads
) -> None:  # type: ignore[no-untyped-def]
    factory.entity("thing", {"name": "text"})
    assert fields_read(other) == {"name"}
    sqlite = other.engine.dialect.name == "sqlite"
    assert len(stamp_reads) == 1
    for _ in range(3):
        assert fields_read(other) == {"name"}
    # PostgreSQL reads it in every transaction (a round trip, as before)
    assert len(stamp_reads) == (1 if sqlite else 4)
    with other.transaction() as session:  # a writer always reads it
        other.model(session)
    assert len(stamp_reads) == (2 if sqlite else 5)


def test_a_change_by_another_worker_counts_on_the_next_read(runtime, other, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("thing", {"name": "text"})
    assert fields_read(other) == {"name"}
    assert fields_read(other) == {"name"}  # kept
    factory.meta("add_field", "thing", "size", "Size", "integer")
    assert fields_read(other) == {"name", "size"}


def test_a_change_by_plain_sql_of_another_connection_counts(runtime, other, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("thing", {"name": "text"})
    with other.transaction(read_only=True) as session:
        before = other.model(session)
    with runtime.engine.begin() as connection:  # whatever commits, not only the services
        connection.execute(text("UPDATE meta_state SET stamp = 'moved by hand'"))
    with other.transaction(read_only=True) as session:
        after = other.model(session)
    assert after is not before and after.stamp == "moved by hand"


def test_a_change_written_on_the_reader_s_own_connection_counts(other, factory) -> None:  # type: ignore[no-untyped-def]
    """The pool gives the writer the connection the reader kept the stamp on: its commit does
    not move that connection's data_version, so the writing transaction forgets what it kept."""
    factory.entity("thing", {"name": "text"})
    with other.transaction(read_only=True) as session:
        reader = driver_connection(session)
        assert "size" not in other.model(session).entities["thing"].fields
    with other.transaction() as session:
        assert driver_connection(session) is reader  # the same pooled connection
        other.metamodel(session).add_field("thing", "size", "Size", "integer")
    with other.transaction(read_only=True) as session:
        assert driver_connection(session) is reader
        assert "size" in other.model(session).entities["thing"].fields


def test_a_rolled_back_change_on_the_reader_s_connection_is_not_seen(other, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("thing", {"name": "text"})
    assert fields_read(other) == {"name"}
    with pytest.raises(RuntimeError), other.transaction() as session:
        other.metamodel(session).add_field("thing", "size", "Size", "integer")
        raise RuntimeError("stop")
    assert fields_read(other) == {"name"}
