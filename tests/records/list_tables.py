"""What the list tests share: a table loaded with many rows in bulk, the indexes a table has,
and the database's plan of a statement."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, inspect

from trellis.db import refresh_statistics

START = datetime(2026, 1, 1)


def load_rows(
    runtime: Any, entity: str, columns: Callable[[int], dict[str, Any]], count: int = 12_000
) -> None:
    """``count`` rows of ``entity`` inserted in bulk (as an import does), row ``i`` made a
    second after row ``i - 1`` with the field columns ``columns(i)``, then fresh statistics,
    so the database's planner judges filters as it would on a large table."""
    with runtime.transaction() as session:
        table = runtime.model(session).entities[entity].table
        rows = [
            {
                "version": 1,
                "created_at": START + timedelta(seconds=i),
                "updated_at": START + timedelta(seconds=i),
                **columns(i),
            }
            for i in range(count)
        ]
        session.execute(insert(table), rows)
        refresh_statistics(session.connection(), [table.name])


def indexes(runtime, table: str = "rec_item") -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """The columns of each index of ``table``, by the index's name."""
    with runtime.engine.connect() as conn:
        return {ix["name"]: ix["column_names"] for ix in inspect(conn).get_indexes(table)}


def plan_of(runtime, statement: str, parameters: Any) -> str:  # type: ignore[no-untyped-def]
    """The database's plan of ``statement``; on PostgreSQL whether an index can serve it
    (sequential scans and sorts turned off: a test table is cheap to scan)."""
    with runtime.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            return "\n".join(r[-1] for r in rows)
        conn.exec_driver_sql("SET enable_seqscan = off")
        conn.exec_driver_sql("SET enable_sort = off")
        rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters)
        return "\n".join(r[0] for r in rows)
