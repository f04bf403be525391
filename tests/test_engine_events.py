"""The platform's engines carry no SQLAlchemy connection event listeners: with any, SQLAlchemy
dispatches its events around every statement of every connection (a cost on every write of
the record service). SQLite's BEGIN and the token caches' watch live in the dialect instead,
and still do their work."""

from __future__ import annotations

from sqlalchemy import text

from trellis.access.bearers import BearerCache


def test_no_engine_of_the_runtime_dispatches_statement_events(runtime) -> None:  # type: ignore[no-untyped-def]
    engines = {
        "engine": runtime.engine,
        "writes of requests": runtime.request_sessions.kw["bind"],
        "reads": runtime.read_sessions.kw["bind"],
    }
    if runtime.engine.dialect.name != "sqlite":
        # PostgreSQL's read-only engine sets READ ONLY through SQLAlchemy's own listener
        del engines["reads"]
    for name, engine in engines.items():
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        assert not engine._has_events, name


def test_a_plain_sql_write_to_the_users_in_an_executemany_empties_the_caches(runtime) -> None:  # type: ignore[no-untyped-def]
    cache = BearerCache()
    cache._entries["x"] = object()  # type: ignore[assignment]
    with runtime.transaction() as session:
        session.execute(
            text("UPDATE auth_user SET is_active = is_active WHERE id = :id"),
            [
                {"id": 1},
                {"id": 2},
            ],
        )
        assert cache._entries  # not before the commit
    assert not cache._entries


def test_a_rolled_back_write_to_the_users_keeps_the_caches(runtime) -> None:  # type: ignore[no-untyped-def]
    cache = BearerCache()
    cache._entries["x"] = object()  # type: ignore[assignment]
    session = runtime.sessions()
    try:
        session.execute(text("UPDATE auth_user SET is_active = is_active WHERE id = 1"))
        session.rollback()
        session.execute(text("SELECT 1"))
        session.commit()
    finally:
        session.close()
    assert cache._entries
