"""Creating records: through the record service vs. the same checks + INSERT + audit row
written by hand with SQLAlchemy Core, one record at a time and batched, in the same run.

    python benchmarks/bench_create.py --n 2000                       # quick check
    python benchmarks/bench_create.py --n 100000                     # full
    python benchmarks/bench_create.py --n 20000 --database-url postgresql+psycopg://...

Issue 12 goal: the service within 1.3x of the hand-written per-record create. The batched
``create_many`` is timed too, against the batched hand-written create. Each side has a
fresh database of its own; the sides alternate transaction by transaction (``--batch``
records each), taking turns at going first.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import handwritten
from common import (
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

GOAL = 1.3


def create_each(runtime: Any, numbers: range) -> None:
    """The platform's side: ``RecordService.create`` per record, one transaction."""
    with runtime.transaction() as session:
        records = runtime.records(session)
        for i in numbers:
            records.create("item", row_values(i))


def create_each_by_hand(engine: Any, numbers: range) -> None:
    """The hand-written side: the same checks, INSERT and audit row per record, one transaction."""
    with engine.begin() as conn:
        for i in numbers:
            handwritten.create_one(conn, row_values(i))


def main() -> None:
    p = parser(__doc__, 100_000, "records per side")
    p.add_argument("--batch", type=int, default=1000, help="records per transaction")
    args = p.parse_args()
    batch = args.batch
    url = args.database_url
    with (
        database(url) as platform_url,
        database(url) as batch_url,
        database(url) as one_url,
        database(url) as many_url,
    ):
        runtime = platform_runtime(platform_url)
        batch_runtime = platform_runtime(batch_url)
        handwritten.same_refusals(runtime)
        one_engine, many_engine = hand_engine(one_url), hand_engine(many_url)
        handwritten.metadata.create_all(one_engine)
        handwritten.metadata.create_all(many_engine)

        def platform_many(numbers: range) -> None:
            with batch_runtime.transaction() as session:
                records = batch_runtime.records(session)
                records.create_many("item", [row_values(i) for i in numbers])

        def by_hand_batched(numbers: range) -> None:
            with many_engine.begin() as conn:
                handwritten.create_many(conn, (row_values(i) for i in numbers))

        sides = {
            "platform: RecordService.create": partial(create_each, runtime),
            "platform: create_many": platform_many,
            "by hand: one record at a time": partial(create_each_by_hand, one_engine),
            "by hand: batched executemany": by_hand_batched,
        }
        for run in sides.values():  # warm-up, not timed: statement caches, connections
            run(range(args.n, args.n + 20))
        timings = dict.fromkeys(sides, 0.0)
        for turn, numbers in enumerate(chunks(args.n, batch)):
            for side in rotated(list(sides), turn):
                timings[side] += timed(sides[side], numbers)[0]
        runtime.dispose()
        batch_runtime.dispose()
        one_engine.dispose()
        many_engine.dispose()
    print_ratios(
        f"create {args.n:,} records ({backend(url)}, {batch} per transaction)",
        args.n,
        "records",
        timings,
        "platform: RecordService.create",
        {"by hand: one record at a time": GOAL},
    )
    ratio = timings["platform: create_many"] / timings["by hand: batched executemany"]
    print(f"  create_many time / by hand: batched executemany      {ratio:6.2f}x")


if __name__ == "__main__":
    main()
