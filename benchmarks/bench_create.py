"""Creating records: through the record service (validation, rules, audit) vs. a
hand-written static SQLAlchemy model + marshmallow schema + audit insert, in the same run.

    python benchmarks/bench_create.py --n 100000
    python benchmarks/bench_create.py --n 20000 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Prints both rates and the ratio (metamodel time / hand-written time). The two sides alternate
batch by batch, so machine noise falls on both alike.
"""

from __future__ import annotations

import argparse
import time

from common import (
    Base,
    StaticItemSchema,
    database,
    insert_static,
    platform_runtime,
    print_rates,
    row_values,
)
from sqlalchemy import create_engine
from sqlalchemy.orm import Session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="records per side")
    parser.add_argument("--batch", type=int, default=1000, help="records per transaction")
    parser.add_argument(
        "--database-url", default=None, help="SQLite (default) or a PostgreSQL server URL"
    )
    args = parser.parse_args()
    with database(args.database_url) as platform_url, database(args.database_url) as static_url:
        runtime = platform_runtime(platform_url)
        static_engine = create_engine(static_url)
        Base.metadata.create_all(static_engine)
        schema = StaticItemSchema()
        timings = {"metamodel": 0.0, "hand-written": 0.0}
        for start in range(0, args.n, args.batch):
            numbers = range(start, min(start + args.batch, args.n))
            began = time.perf_counter()
            with runtime.transaction() as session:
                records = runtime.records(session)
                for i in numbers:
                    records.create("item", row_values(i))
            timings["metamodel"] += time.perf_counter() - began
            began = time.perf_counter()
            with Session(static_engine) as session, session.begin():
                for i in numbers:
                    insert_static(session, schema, row_values(i))
            timings["hand-written"] += time.perf_counter() - began
        runtime.dispose()
        static_engine.dispose()
    print_rates(
        f"create {args.n} records ({{backend}}, {args.batch} per transaction)",
        args.database_url,
        args.n,
        "records",
        timings,
    )


if __name__ == "__main__":
    main()
