"""CSV import: ``import_csv`` vs. SQLAlchemy Core ``executemany`` of the converted rows, and
vs. a strong hand-written import of the same file, in the same run.

    python benchmarks/bench_import.py --n 2000                       # quick check
    python benchmarks/bench_import.py --n 20000                      # full
    python benchmarks/bench_import.py --n 20000 --database-url postgresql+psycopg://...

The file is what a user uploads (labels as headers, money as ``12.50 EUR``, Yes/No), one file
of ``--batch`` rows per transaction. The sides:

* the platform: ``import_csv`` (column matching, cell reading, the record service with its
  checks, rules and audit, all or nothing per file);
* the floor: one Core ``executemany`` of the rows already converted (before the clock
  starts) into column values. Issue 12 goal: the import within 2x of it;
* a strong hand-written import (``hand_import``): read the CSV, convert and check the cells
  column by column with the same checks as the platform (a file with a bad cell goes row by
  row, every problem reported, nothing written on any), one statement for the rows (ids
  back) and one for their audit rows on the driver's cursor (SQLite ``executemany``,
  PostgreSQL ``COPY``).

Each side has a fresh database of its own; they alternate file by file, taking turns at going
first.
"""

from __future__ import annotations

import csv
import io

import hand_import
import handwritten
from common import (
    FIELDS,
    backend,
    chunks,
    database,
    hand_engine,
    parser,
    platform_runtime,
    print_ratios,
    rotated,
    row_values,
    timed,
)

from trellis.records.importer import import_csv

GOAL = 2.0
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


def main() -> None:
    p = parser(__doc__, 20_000, "rows per side")
    p.add_argument("--batch", type=int, default=1000, help="rows per file (one transaction)")
    args = p.parse_args()
    url = args.database_url
    with (
        database(url) as platform_url,
        database(url) as floor_url,
        database(url) as hand_url,
    ):
        runtime = platform_runtime(platform_url)
        handwritten.same_refusals(runtime)
        floor_engine, hand_engine_ = hand_engine(floor_url), hand_engine(hand_url)
        handwritten.metadata.create_all(floor_engine)
        handwritten.metadata.create_all(hand_engine_)
        hand_import.same_file_refusals(runtime, hand_engine_, csv_text)

        def platform(text: str, _rows: list) -> None:
            with runtime.transaction() as session:
                report = import_csv(runtime.records(session), "item", text)
            assert report.ok and len(report.created) == len(_rows), report.errors

        def floor(_text: str, rows: list) -> None:
            with floor_engine.begin() as conn:
                conn.execute(handwritten.INSERT_ROWS, rows)

        def by_hand(text: str, rows: list) -> None:
            with hand_engine_.begin() as conn:
                created = hand_import.import_csv(conn, text)
            assert len(created) == len(rows)

        sides = {
            "platform: import_csv": platform,
            "floor: Core executemany of rows": floor,
            "by hand: strong import": by_hand,
        }
        warm = range(args.n, args.n + 20)  # warm-up, not timed
        for run in sides.values():
            run(csv_text(warm), [handwritten.check(row_values(i))[0] for i in warm])
        timings = dict.fromkeys(sides, 0.0)
        for turn, numbers in enumerate(chunks(args.n, args.batch)):
            text = csv_text(numbers)
            converted = [handwritten.check(row_values(i))[0] for i in numbers]
            for side in rotated(list(sides), turn):
                timings[side] += timed(sides[side], text, converted)[0]
        runtime.dispose()
        floor_engine.dispose()
        hand_engine_.dispose()
    print_ratios(
        f"import {args.n:,} CSV rows ({backend(url)}, {args.batch} rows per file)",
        args.n,
        "rows",
        timings,
        "platform: import_csv",
        {"floor: Core executemany of rows": GOAL},
    )


if __name__ == "__main__":
    main()
