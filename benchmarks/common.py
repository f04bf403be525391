"""Shared set-up for the benchmarks: command-line arguments, fresh databases, the platform's
10-field entity type ``item``, and how timings are taken and printed.

Every benchmark times the platform and its baseline **in the same run**, alternating side by
side (the order rotates every round, so neither side always runs first after a pause), and
prints the ratio or the latency against the goal of issue 12.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from trellis.runtime import Runtime
from trellis.serving import settle_start_up

#: the PostgreSQL server to run on when no ``--database-url`` is given (SQLite otherwise)
DATABASE_ENV = "TRELLIS_BENCH_DATABASE_URL"

FIELDS = {
    "name": ("text", {"required": True}),
    "code": ("text", {"indexed": True}),
    "notes": ("long_text", {}),
    "quantity": ("integer", {"settings": {"min": 0}}),
    "rate": ("decimal", {"settings": {"precision": 12, "scale": 2}}),
    "amount": ("money", {"settings": {"currencies": ["EUR", "USD"]}, "indexed": True}),
    "active": ("boolean", {}),
    "due": ("date", {}),
    "email": ("email", {}),
    "status": ("list", {"settings": {"list": "status"}, "indexed": True}),
}
STATUSES = ["open", "won", "lost"]


def row_values(i: int) -> dict:
    """The input of record ``i`` (the same for both sides)."""
    return {
        "name": f"Record {i}",
        "code": f"C{i:07d}",
        "notes": "Some notes about the record",
        "quantity": i % 100,
        "rate": f"{i % 1000}.25",
        "amount": {"amount": f"{(i * 37) % 100000}.50", "currency": "EUR"},
        "active": i % 2 == 0,
        "due": "2026-11-24",
        "email": f"user{i}@example.com",
        "status": STATUSES[i % 3],
    }


# -- arguments ----------------------------------------------------------------------------


def parser(doc: str | None, n: int, n_help: str) -> argparse.ArgumentParser:
    """A parser with ``--n`` (the size) and ``--database-url`` (default: SQLite, or
    ``$TRELLIS_BENCH_DATABASE_URL``)."""
    out = argparse.ArgumentParser(
        description=(doc or "").split("\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    out.add_argument("--n", type=int, default=n, help=f"{n_help} (default {n:,})")
    out.add_argument(
        "--database-url",
        default=os.environ.get(DATABASE_ENV),
        help=f"SQLite (default) or a PostgreSQL server URL (default ${DATABASE_ENV}); "
        "each side gets a fresh database of its own on it",
    )
    return out


def backend(url: str | None) -> str:
    return "PostgreSQL" if url and not url.startswith("sqlite") else "SQLite"


# -- databases ----------------------------------------------------------------------------


@contextlib.contextmanager
def database(url: str | None) -> Iterator[str]:
    """A fresh database URL: a temp SQLite file, or a new database on the PostgreSQL server."""
    if not url or url.startswith("sqlite"):
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'bench.db'}"
        return
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def kept_database(url: str | None, keep: str, side: str) -> Iterator[tuple[str, bool]]:
    """A database kept between runs (``--keep``), and whether it was there already: on
    SQLite the file ``<keep>/<side>.db``, on PostgreSQL the database ``<keep>_<side>`` (made
    when missing, never dropped). A database counts as there once :func:`mark_kept` marked it
    (a load stopped half-way is loaded again)."""
    if not url or url.startswith("sqlite"):
        folder = Path(keep)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{side}.db"
        ready = (folder / f"{side}.loaded").exists()
        if not ready:
            for stale in folder.glob(f"{side}.db*"):
                stale.unlink()
        yield f"sqlite:///{path}", ready
        return
    name = f"{keep}_{side}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        there = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).first()
        if there is not None:
            ready = (
                conn.execute(
                    text(
                        "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                        "WHERE datname = :name"
                    ),
                    {"name": name},
                ).scalar()
                == "loaded"
            )
            if not ready:
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        else:
            ready = False
        if not ready:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    yield make_url(url).set(database=name).render_as_string(hide_password=False), ready


def mark_kept(url: str | None, keep: str, side: str) -> None:
    """Mark a :func:`kept_database` as loaded (the next run with ``--keep`` reuses it)."""
    if not url or url.startswith("sqlite"):
        (Path(keep) / f"{side}.loaded").touch()
        return
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"COMMENT ON DATABASE \"{keep}_{side}\" IS 'loaded'"))
    admin.dispose()


def hand_engine(url: str) -> Engine:
    """The engine a careful engineer sets up by hand: on SQLite WAL, ``synchronous=NORMAL``,
    foreign keys and a busy timeout (as the platform's), but reads in ordinary deferred
    transactions; on PostgreSQL the defaults."""
    if backend(url) != "SQLite":
        return create_engine(url)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_con, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_con.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    return engine


def hand_read_engine(url: str) -> Engine:
    """The engine a careful engineer reads through: on PostgreSQL in autocommit (no
    ``BEGIN`` and ``ROLLBACK`` round trips around a read; at READ COMMITTED each statement
    has its own snapshot either way), as the platform's reads run; on SQLite
    :func:`hand_engine`'s deferred transactions."""
    engine = hand_engine(url)
    if backend(url) == "SQLite":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def analyze(engine: Engine) -> None:
    """What one does after a bulk load: fresh planner statistics (and, on PostgreSQL, the
    visibility map that index-only scans need)."""
    if engine.dialect.name == "postgresql":
        # a connection of its own: the platform's have default_transaction_read_only on (its
        # reads run in autocommit), and VACUUM runs only outside a transaction
        admin = create_engine(engine.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("VACUUM ANALYZE"))
        admin.dispose()
        return
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()


def platform_settings(url: str) -> dict[str, Any]:
    return {"DATABASE_URL": url, "SECRET_KEY": "bench", "INSTANCE_PATH": tempfile.gettempdir()}


def platform_runtime(url: str, existing: bool = False) -> Runtime:
    """A runtime with the benchmark entity type ``item`` (10 custom fields, two rules);
    ``existing``: the database has it already (a kept one, see :func:`kept_database`)."""
    runtime = Runtime.from_settings(platform_settings(url))
    runtime.initialise()
    if not existing:
        _add_the_items(runtime)
    settle_start_up(runtime)  # as ``trellis serve`` does before it serves
    return runtime


def _add_the_items(runtime: Runtime) -> None:
    with runtime.transaction() as session:
        meta = runtime.metamodel(session)
        meta.create_list("status", "Status", [{"key": k, "label": k.title()} for k in STATUSES])
        meta.create_entity("item", "Item")
        for key, (type_name, options) in FIELDS.items():
            meta.add_field("item", key, key.title(), type_name, **options)
        meta.add_rule("item", "required", field="email", when="quantity > 50")
        meta.add_rule(
            "item",
            "validation",
            expression="rate is None or rate >= 0",
            message="No negative rates.",
        )


# -- timing and printing ------------------------------------------------------------------


def rotated(items: Sequence[Any], turn: int) -> list[Any]:
    """``items`` starting at position ``turn`` (so each side takes its turn going first)."""
    k = turn % len(items)
    return list(items[k:]) + list(items[:k])


def chunks(n: int, size: int) -> Iterator[range]:
    for start in range(0, n, size):
        yield range(start, min(start + size, n))


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def percentile(samples: Sequence[float], p: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def latency_line(label: str, samples_s: Sequence[float], indent: int = 4) -> str:
    """p50 / p95 / max of ``samples_s`` (seconds) in milliseconds."""
    ms = [s * 1000 for s in samples_s]
    p50, p95 = statistics.median(ms), percentile(ms, 95)
    return (
        f"{' ' * indent}{label:36s} p50 {p50:9.2f} ms   p95 {p95:9.2f} ms"
        f"   max {max(ms):9.2f} ms   ({len(ms)} samples)"
    )


def print_ratios(
    title: str,
    n: int,
    unit: str,
    timings: dict[str, float],
    platform: str,
    goals: dict[str, float],
) -> None:
    """Each side's rate, then the platform's time over each baseline's time, against the
    goal where issue 12 sets one."""
    print(title)
    for side, seconds in timings.items():
        print(f"  {side:34s} {n / seconds:10.0f} {unit}/s  ({seconds:.2f} s)")
    for side, seconds in timings.items():
        if side == platform:
            continue
        ratio = timings[platform] / seconds
        goal = goals.get(side)
        target = f"   goal <= {goal}x: {verdict(ratio <= goal)}" if goal else ""
        print(f"  platform time / {side:34s} {ratio:6.2f}x{target}")


def verdict(ok: bool) -> str:
    return "meets the goal" if ok else "MISSES the goal"


def timed(fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    """Seconds ``fn(*args)`` took, and its result."""
    began = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - began, result


#: the field types (and settings) the configuration benchmarks spread their fields over
FIELD_TYPES = [
    ("text", {}),
    ("integer", {"min": 0}),
    ("decimal", {"precision": 12, "scale": 2}),
    ("money", {"currencies": ["EUR", "USD"]}),
    ("boolean", {}),
    ("date", {}),
    ("email", {}),
    ("list", {"list": "level"}),
    ("long_text", {}),
    ("phone", {}),
    ("url", {}),
    ("datetime", {}),
]
