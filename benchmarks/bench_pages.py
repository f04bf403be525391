"""Paging a large table: the first page and a deep page of 50 records, filtered
(``amount >= 50000``, ``status = won``) and sorted (``-created_at, -id``), through
``RecordService.list`` vs. a hand-written query on the same rows, in the same run. The
platform's deep page is timed twice: by ``page=`` (OFFSET, kept for compatibility) and by
the cursor of the page before (``after=``, keyset), as the API's ``next`` link reads it.

    python benchmarks/bench_pages.py --n 20000 --repeat 50          # quick check
    python benchmarks/bench_pages.py --n 1000000                    # full, SQLite
    python benchmarks/bench_pages.py --n 300000 --database-url postgresql+psycopg://...
    python benchmarks/bench_pages.py --n 1000000 --keep /tmp/pages-1m   # load once, reuse

``--keep`` keeps both sides' databases (SQLite files in that folder; on PostgreSQL the
databases ``<keep>_platform`` and ``<keep>_hand``) and reuses them when they were loaded
before (with the same ``--n``: the folder or name should say it), so a run of another
version of the code times the same rows without loading them again.

The baseline is what a careful engineer writes for this screen: an index matching the filter
and the sort and covering the range filter (``status, created_at, id, amount``), the page
read through it, a count that stops at 1,000 (shown as "1,000+") instead of counting every
match, and the deep page read from the previous page's last key (keyset paging) instead of
an OFFSET. Before timing, both sides must return the same records for both pages. The rows
are loaded with bulk Core inserts (not timed), then both databases are analysed (PostgreSQL:
VACUUM ANALYZE). The platform gets the same index the way an administrator declares it: a
list index of the entity type (filters ``status``, sort ``created_at``, include ``amount``),
which the schema planner creates (and analyses) like any other index. Issue 12 goal: the
platform's first page at most 2 ms at the median, on SQLite with 1M rows and PostgreSQL
with 300k.
"""

from __future__ import annotations

import contextlib
import time
from datetime import date, datetime, timedelta
from decimal import Decimal

import handwritten
from common import (
    STATUSES,
    analyze,
    backend,
    chunks,
    database,
    hand_engine,
    hand_read_engine,
    kept_database,
    latency_line,
    mark_kept,
    median,
    parser,
    platform_runtime,
    rotated,
    verdict,
)
from sqlalchemy import Index, func, insert, select, tuple_

from trellis.records.paging import encode_cursor
from trellis.records.query import Filter, sort_keys

GOAL_MS = 2.0
PER_PAGE = 50
COUNT_CAP = 1_000
FILTERS = [Filter("amount", "gte", "50000"), Filter("status", "eq", "won")]
SORT = ["-created_at", "-id"]
t = handwritten.item
Index("ix_hand_item_status_created", t.c.status, t.c.created_at, t.c.id, t.c.amount_amount)
#: the platform's side of that index: declared as an administrator does, kept by the planner
LIST_INDEX = {
    "key": "won_recent",
    "filters": ["status"],
    "sort": "created_at",
    "include": ["amount"],
}
WHERE = (t.c.status == "won", t.c.amount_amount >= Decimal(50000))
ORDER = (t.c.created_at.desc(), t.c.id.desc())
FIRST_PAGE = select(t).where(*WHERE).order_by(*ORDER).limit(PER_PAGE)
CAPPED_COUNT = select(func.count()).select_from(
    select(t.c.id).where(*WHERE).order_by(*ORDER).limit(COUNT_CAP + 1).subquery()
)


def load(runtime, engine, n: int) -> None:  # type: ignore[no-untyped-def]
    """The same ``n`` rows into both tables: newest first by created_at, one a second."""
    start = datetime(2026, 1, 1)
    with runtime.transaction() as session:
        table = runtime.model(session).entities["item"].table
    for numbers in chunks(n, 20_000):
        rows = [
            {
                "version": 1,
                "created_at": start + timedelta(seconds=i),
                "updated_at": start + timedelta(seconds=i),
                "created_by": None,
                "updated_by": None,
                "owner_id": None,
                "pipeline": None,
                "stage": None,
                "name": f"Record {i}",
                "code": f"C{i:07d}",
                "notes": None,
                "quantity": i % 100,
                "rate": Decimal("1.25"),
                "amount_amount": Decimal((i * 37) % 100000),
                "amount_currency": "EUR",
                "active": i % 2 == 0,
                "due": date(2026, 11, 24),
                "email": f"u{i}@example.com",
                "status": STATUSES[i % 3],
            }
            for i in numbers
        ]
        with runtime.engine.begin() as conn:
            conn.execute(insert(table), rows)
        with engine.begin() as conn:
            conn.execute(handwritten.INSERT_ROWS, rows)
        print(f"  loaded {numbers.stop:,}/{n:,}", end="\r", flush=True)
    print()
    analyze(runtime.engine)
    analyze(engine)


def main() -> None:
    p = parser(__doc__, 1_000_000, "rows in the table")
    p.add_argument("--repeat", type=int, default=200, help="queries per side and page")
    p.add_argument(
        "--keep",
        metavar="FOLDER_OR_NAME",
        help="keep the loaded databases and reuse them in the next run (see above)",
    )
    args = p.parse_args()
    url = args.database_url
    with contextlib.ExitStack() as stack:
        if args.keep:
            platform_url, ready = stack.enter_context(kept_database(url, args.keep, "platform"))
            hand_url, hand_ready = stack.enter_context(kept_database(url, args.keep, "hand"))
            ready = ready and hand_ready
        else:
            platform_url = stack.enter_context(database(url))
            hand_url = stack.enter_context(database(url))
            ready = False
        runtime = platform_runtime(platform_url, existing=ready)
        engine = hand_engine(hand_url)
        if not ready:
            handwritten.metadata.create_all(engine)
            load(runtime, engine, args.n)
            with runtime.transaction() as session:
                runtime.metamodel(session).update_entity("item", list_indexes=[LIST_INDEX])
            if args.keep:
                mark_kept(url, args.keep, "platform")
                mark_kept(url, args.keep, "hand")

        def platform(page: int = 1, after: str | None = None) -> list[int]:
            # as a GET runs it: a read-only transaction
            with runtime.transaction(read_only=True) as session:
                found = runtime.records(session).list(
                    "item", filters=FILTERS, sort=SORT, page=page, per_page=PER_PAGE, after=after
                )
                return [r.id for r in found.items]

        with runtime.transaction() as session:
            total = (
                runtime.records(session)
                .list("item", filters=FILTERS, per_page=1, exact_total=True)
                .total
            )
            item = runtime.model(session).entities["item"]
        deep = max(1, (total // PER_PAGE) * 9 // 10)  # 90% of the way down the list
        with engine.connect() as conn:  # the key the client has from the page before
            before = conn.execute(
                select(t.c.created_at, t.c.id)
                .where(*WHERE)
                .order_by(*ORDER)
                .offset((deep - 1) * PER_PAGE - 1)
                .limit(1)
            ).one()
        # the cursor the client holds after the page before (what ``next`` gives)
        cursor = encode_cursor(
            sort_keys(item, SORT), {"created_at": before.created_at, "id": before.id}
        )
        deep_page = (
            select(t)
            .where(*WHERE, tuple_(t.c.created_at, t.c.id) < tuple_(*before))
            .order_by(*ORDER)
            .limit(PER_PAGE)
        )

        reads = hand_read_engine(hand_url)

        def by_hand(query) -> list[int]:  # type: ignore[no-untyped-def]
            with reads.connect() as conn:
                rows = conn.execute(query).mappings().all()
                shown = conn.execute(CAPPED_COUNT).scalar_one()
                assert shown > 0
                return [r["id"] for r in rows]

        cases = {
            "first page": (lambda: platform(1), lambda: by_hand(FIRST_PAGE)),
            f"page {deep:,} by cursor": (
                lambda: platform(after=cursor),
                lambda: by_hand(deep_page),
            ),
            f"page {deep:,} by page number (OFFSET)": (
                lambda: platform(deep),
                lambda: by_hand(deep_page),
            ),
        }
        for name, (mine, theirs) in cases.items():
            if mine() != theirs():
                raise SystemExit(f"The two sides return different records for the {name}.")
        samples: dict[tuple[str, int], list[float]] = {}
        cpu: dict[tuple[str, int], list[float]] = {}
        for name, pair in cases.items():
            for turn in range(args.repeat):
                for side in rotated([0, 1], turn):
                    began, began_cpu = time.perf_counter(), time.thread_time()
                    pair[side]()
                    elapsed = time.perf_counter() - began
                    cpu.setdefault((name, side), []).append(time.thread_time() - began_cpu)
                    samples.setdefault((name, side), []).append(elapsed)
        runtime.dispose()
        engine.dispose()
    print(
        f"pages of {PER_PAGE} over {args.n:,} rows ({backend(url)}; {total:,} match the "
        f"filter), {args.repeat} queries per side and page"
    )
    for name in cases:
        mine, theirs = samples[(name, 0)], samples[(name, 1)]
        print(f"  {name}:")
        print(latency_line("platform: RecordService.list", mine))
        print(latency_line("by hand: index, capped count, keyset", theirs))
        print(
            f"    CPU time a call (p50): platform {median(cpu[(name, 0)]) * 1000:.2f} ms, "
            f"by hand {median(cpu[(name, 1)]) * 1000:.2f} ms"
        )
        p50 = median(mine) * 1000
        ratio = p50 / (median(theirs) * 1000)
        goal = f"   goal p50 <= {GOAL_MS} ms: {verdict(p50 <= GOAL_MS)}"
        print(
            f"    platform / hand-written p50: {ratio:.1f}x{goal if name == 'first page' else ''}"
        )


if __name__ == "__main__":
    main()
