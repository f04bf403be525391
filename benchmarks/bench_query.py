"""A filtered, sorted page query (with its total) over many records: through the record
service vs. the same query written by hand on a static SQLAlchemy model, in the same run.

    python benchmarks/bench_query.py --n 1000000

Loading the rows is not measured (bulk Core inserts into both tables).
"""

from __future__ import annotations

import argparse
import time
from datetime import date, datetime
from decimal import Decimal

from common import STATUSES, Base, StaticItem, database, platform_runtime
from sqlalchemy import create_engine, func, insert, select
from sqlalchemy.orm import Session

from trellis.records.query import Filter

FILTERS = [Filter("amount", "gte", "50000"), Filter("status", "eq", "won")]


def load(runtime, static_engine, n: int) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 11, 24, 12, 0)
    with runtime.transaction() as session:
        table = runtime.model(session).entities["item"].table
    chunk = 20_000
    for start in range(0, n, chunk):
        rows = [
            {
                "version": 1,
                "created_at": now,
                "updated_at": now,
                "name": f"Record {i}",
                "code": f"C{i:07d}",
                "quantity": i % 100,
                "rate": Decimal("1.25"),
                "amount_amount": Decimal((i * 37) % 100000),
                "amount_currency": "EUR",
                "active": i % 2 == 0,
                "due": date(2026, 11, 24),
                "email": f"u{i}@example.com",
                "status": STATUSES[i % 3],
            }
            for i in range(start, min(start + chunk, n))
        ]
        with runtime.engine.begin() as conn:
            conn.execute(insert(table), [{**r, "pipeline": None, "stage": None} for r in rows])
        with static_engine.begin() as conn:
            conn.execute(insert(StaticItem.__table__), rows)
        print(f"  loaded {min(start + chunk, n)}/{n}", end="\r", flush=True)
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with database(args.database_url) as platform_url, database(args.database_url) as static_url:
        runtime = platform_runtime(platform_url)
        static_engine = create_engine(static_url)
        Base.metadata.create_all(static_engine)
        load(runtime, static_engine, args.n)
        timings = {"metamodel": 0.0, "hand-written": 0.0}
        totals = {}
        for _ in range(args.repeat):
            began = time.perf_counter()
            with runtime.transaction() as session:
                page = runtime.records(session).list(
                    "item", filters=FILTERS, sort=["-created_at", "-id"], page=3, per_page=50
                )
                totals["metamodel"] = (page.total, len(page.items))
            timings["metamodel"] += time.perf_counter() - began
            began = time.perf_counter()
            with Session(static_engine) as session:
                where = (StaticItem.amount_amount >= Decimal(50000), StaticItem.status == "won")
                total = session.scalar(select(func.count()).select_from(StaticItem).where(*where))
                items = session.scalars(
                    select(StaticItem)
                    .where(*where)
                    .order_by(StaticItem.created_at.desc(), StaticItem.id.desc())
                    .limit(50)
                    .offset(100)
                ).all()
                totals["hand-written"] = (total, len(items))
            timings["hand-written"] += time.perf_counter() - began
        runtime.dispose()
        static_engine.dispose()
    assert totals["metamodel"] == totals["hand-written"], totals
    print(f"page query over {args.n} records, {args.repeat} times (total {totals['metamodel'][0]})")
    for side, seconds in timings.items():
        print(f"  {side:13s} {seconds / args.repeat * 1000:8.2f} ms/query")
    print(
        f"  ratio (metamodel / hand-written): {timings['metamodel'] / timings['hand-written']:.2f}"
    )


if __name__ == "__main__":
    main()
