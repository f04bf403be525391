"""Reads never wait for writers (SQLite: deferred read transactions on the WAL snapshot;
PostgreSQL: READ ONLY transactions), a writer that cannot get the lock in time hears
"busy, retry" (503) instead of a 500, and authenticating writes at most once a minute."""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import timedelta

import pytest
from api_helpers import PROBLEM, Caller
from configured_fixtures import configured
from sqlalchemy import event, select, text, update
from sqlalchemy.exc import DBAPIError

from trellis import db
from trellis.access.models import ApiToken
from trellis.app import get_runtime_of as runtime_of
from trellis.clock import utcnow

PG_URL = os.environ.get("TRELLIS_TEST_DATABASE_URL", "")
sqlite_only = pytest.mark.skipif(bool(PG_URL), reason="the write lock is SQLite's")


@configured
def first_deal(factory, client, admin_headers):  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text"})
    admin = Caller(client, admin_headers)
    assert admin.post("/api/records/deal", {"name": "First"}).status_code == 201


@pytest.fixture
def deals(first_deal, admin):  # type: ignore[no-untyped-def]
    return admin


@pytest.fixture
def write_lock(settings):  # type: ignore[no-untyped-def]
    """Another process's writer holding SQLite's write lock while the test runs."""
    holder = sqlite3.connect(settings["DATABASE_URL"].removeprefix("sqlite:///"), timeout=1)
    holder.isolation_level = None
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE IF NOT EXISTS lock_holder (x INTEGER)")
    yield holder
    holder.execute("ROLLBACK")
    holder.close()


@sqlite_only
def test_a_read_does_not_wait_for_a_writer(deals, write_lock, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # a read that waited would wait the whole busy timeout: 30 s, far beyond any slow machine
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 30_000)  # connections opened from now on
    deals.client.application.extensions["trellis"].engine.dispose()
    started = time.monotonic()
    response = deals.get("/api/records/deal")
    assert response.status_code == 200, response.json
    assert [r["name"] for r in response.json["items"]] == ["First"]
    assert deals.get(f"/api/records/deal/{response.json['items'][0]['id']}").status_code == 200
    assert time.monotonic() - started < 10  # nothing waited for the writer's lock


@sqlite_only
def test_a_writer_that_cannot_get_the_lock_hears_busy_retry(deals, write_lock, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 200)  # connections opened from now on
    runtime = deals.client.application.extensions["trellis"]
    runtime.engine.dispose()
    response = deals.post("/api/records/deal", {"name": "Second"})
    assert response.status_code == 503, response.json
    assert response.content_type == PROBLEM
    assert response.headers["Retry-After"] == "1"
    assert "busy" in response.json["detail"].lower()
    write_lock.execute("ROLLBACK")
    write_lock.execute("BEGIN")  # the fixture's ROLLBACK needs a transaction
    assert deals.post("/api/records/deal", {"name": "Second"}).status_code == 201


def test_a_read_request_cannot_write(deals, runtime) -> None:  # type: ignore[no-untyped-def]
    """A GET's transactions are read-only: a write inside one fails instead of locking."""
    app = deals.client.application
    with app.test_request_context("/", method="GET"):
        with pytest.raises(DBAPIError), runtime_of(app).transaction() as session:
            session.execute(text("CREATE TABLE written_by_a_read (x INTEGER)"))
        with runtime_of(app).transaction(read_only=False) as session:  # unless it says so
            session.execute(text("CREATE TABLE written_on_purpose (x INTEGER)"))
    with app.test_request_context("/", method="POST"), runtime_of(app).transaction() as session:
        session.execute(text("CREATE TABLE written_by_a_post (x INTEGER)"))


@sqlite_only
def test_reads_and_writes_take_turns_on_one_connection(runtime) -> None:  # type: ignore[no-untyped-def]
    """``query_only`` is set only when a connection goes from reading to writing or back
    (not in every transaction), and each transaction still gets the right one."""
    seen: list[str] = []
    # what SQLite itself runs (the BEGIN and its pragmas are the dialect's, not statements
    # SQLAlchemy's events see)
    traced = lambda dbapi_con, _record: dbapi_con.set_trace_callback(seen.append)  # noqa: E731
    event.listen(runtime.engine, "connect", traced)
    runtime.engine.pool = runtime.engine.pool.recreate()  # used in turn: one connection
    try:
        for read_only in (True, True, False, True, True, False, False):
            with runtime.transaction(read_only=read_only) as session:
                session.execute(text("SELECT 1"))
                if read_only:
                    with pytest.raises(DBAPIError, match="readonly"):
                        session.execute(text("CREATE TABLE written_by_a_read (x INTEGER)"))
                else:
                    session.execute(text("CREATE TABLE IF NOT EXISTS written (x INTEGER)"))
    finally:
        event.remove(runtime.engine, "connect", traced)
    pragmas = [s for s in seen if s.startswith("PRAGMA query_only")]
    assert pragmas == ["PRAGMA query_only=1", "PRAGMA query_only=0"] * 2


def test_a_token_records_its_use_at_most_once_a_minute(deals, runtime) -> None:  # type: ignore[no-untyped-def]
    def last_used():  # type: ignore[no-untyped-def]
        with runtime.transaction() as session:
            return session.scalars(select(ApiToken.last_used_at)).all()

    first = last_used()
    assert first[0] is not None
    deals.get("/api/records/deal")
    assert last_used() == first  # used again within the minute: nothing written
    with runtime.transaction() as session:
        session.execute(update(ApiToken).values(last_used_at=utcnow() - timedelta(minutes=2)))
    stale = last_used()
    deals.get("/api/records/deal")
    assert last_used() == stale  # a read never writes: the use waits for a write
    assert deals.post("/api/records/deal", {"name": "Second"}).status_code == 201
    assert last_used()[0] > utcnow() - timedelta(seconds=30)  # written with that write


def test_a_process_that_only_reads_writes_token_uses_after_a_minute(deals, runtime) -> None:  # type: ignore[no-untyped-def]
    def last_used():  # type: ignore[no-untyped-def]
        with runtime.transaction() as session:
            return session.scalars(select(ApiToken.last_used_at)).all()

    with runtime.transaction() as session:
        session.execute(update(ApiToken).values(last_used_at=utcnow() - timedelta(minutes=5)))
    stale = last_used()
    deals.get("/api/records/deal")
    assert last_used() == stale
    pending = runtime_of(deals.client.application).token_uses
    pending._since = utcnow() - timedelta(minutes=2)  # as if a minute went by
    deals.get("/api/records/deal")
    assert last_used()[0] > utcnow() - timedelta(seconds=30)
    assert pending.take() == []
