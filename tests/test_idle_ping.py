"""PostgreSQL connections are pinged on checkout only after sitting idle (a ping in every
transaction is a round trip), and a connection that died meanwhile is replaced, not a
failed transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from trellis import db


@pytest.fixture
def pg_runtime(runtime):  # type: ignore[no-untyped-def]
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL pool (SQLite has no server connection to lose)")
    return runtime


def count(runtime) -> int:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        return session.scalar(text("SELECT count(*) FROM meta_state"))


def test_a_busy_connection_is_not_pinged_an_idle_one_is(pg_runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pings: list[object] = []
    dialect = pg_runtime.engine.dialect
    real = dialect.do_ping
    monkeypatch.setattr(dialect, "do_ping", lambda con: pings.append(con) or real(con))
    count(pg_runtime)
    count(pg_runtime)
    count(pg_runtime)
    assert pings == []  # used a moment ago: no round trip for a ping
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)
    count(pg_runtime)
    assert len(pings) == 1


def test_a_connection_that_died_while_idle_is_replaced(pg_runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert count(pg_runtime) == 1
    admin = create_engine(pg_runtime.engine.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        killed = conn.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    admin.dispose()
    assert killed >= 1
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)
    assert count(pg_runtime) == 1  # the ping found it dead; a new connection answered
