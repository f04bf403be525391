"""Importing a CSV: ``import_csv`` (column matching, cell reading, the record service with
its rules and audit, all or nothing) vs. a hand-written reader of the same CSV into the static
SQLAlchemy model + marshmallow schema + audit insert, in the same run.

    python benchmarks/bench_import.py --n 20000
    python benchmarks/bench_import.py --n 20000 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Prints both rates and the ratio (metamodel time / hand-written time). The two sides alternate
file by file (one file per ``--batch`` rows, one transaction each).
"""

from __future__ import annotations

import argparse
import csv
import io
import time

from common import (
    FIELDS,
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

from trellis.records.importer import import_csv

COLUMNS = list(FIELDS)


def csv_text(numbers: range) -> str:
    """The CSV a user would upload: labels as headers, money as ``12.50 EUR``, Yes/No."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([key.title() for key in COLUMNS])
    for i in numbers:
        values = row_values(i)
        money = values["amount"]
        values["amount"] = f"{money['amount']} {money['currency']}"
        values["active"] = "Yes" if values["active"] else "No"
        writer.writerow([values[key] for key in COLUMNS])
    return out.getvalue()


def hand_written(session: Session, text: str, schema: StaticItemSchema) -> None:
    """The same import written for one fixed table: read, convert, validate, insert, audit."""
    for cells in csv.DictReader(io.StringIO(text)):
        raw = {key: cells[key.title()] for key in COLUMNS}
        amount, currency = raw["amount"].split()
        raw["amount"] = {"amount": amount, "currency": currency}
        raw["active"] = raw["active"] == "Yes"
        raw["quantity"] = int(raw["quantity"])
        insert_static(session, schema, raw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="rows per side")
    parser.add_argument("--batch", type=int, default=1000, help="rows per file")
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
            text = csv_text(range(start, min(start + args.batch, args.n)))
            began = time.perf_counter()
            with runtime.transaction() as session:
                report = import_csv(runtime.records(session), "item", text)
            assert report.ok, report.errors
            timings["metamodel"] += time.perf_counter() - began
            began = time.perf_counter()
            with Session(static_engine) as session, session.begin():
                hand_written(session, text, schema)
            timings["hand-written"] += time.perf_counter() - began
        runtime.dispose()
        static_engine.dispose()
    print_rates(
        f"import {args.n} CSV rows ({{backend}}, {args.batch} per file)",
        args.database_url,
        args.n,
        "rows",
        timings,
    )


if __name__ == "__main__":
    main()
