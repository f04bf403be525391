"""Work counted instead of timed: Python function calls (and calls of built-ins) per record
of a create and per row of a CSV import, the platform against the hand-written baseline, and
their CPU time (``time.process_time``, the median of ``--rounds`` alternating rounds).

    python benchmarks/count_calls.py --n 500
    python benchmarks/count_calls.py --n 500 --database-url postgresql+psycopg://...

The counts are deterministic (``sys.setprofile``), so they compare two versions of the code
on a noisy machine where timings do not; CPU time leaves out the time spent waiting (for the
database server, for the other processes of a shared machine).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import hand_import
import handwritten
from bench_create import create_each, create_each_by_hand
from bench_import import csv_text
from common import backend, database, hand_engine, parser, platform_runtime

from trellis.records.importer import import_csv


def counted(fn: Callable[..., Any], *args: Any) -> int:
    """How many calls ``fn(*args)`` makes (Python functions and built-ins)."""
    calls = 0

    def note(_frame: Any, event: str, _arg: Any) -> None:
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(note)
    try:
        fn(*args)
    finally:
        sys.setprofile(None)
    return calls


def cpu(fn: Callable[..., Any], *args: Any) -> float:
    began = time.process_time()
    fn(*args)
    return time.process_time() - began


def main() -> None:
    p = parser(__doc__, 500, "records (rows) per round")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    args = p.parse_args()
    n, url = args.n, args.database_url
    with database(url) as platform_url, database(url) as hand_url:
        runtime = platform_runtime(platform_url)
        engine = hand_engine(hand_url)
        handwritten.metadata.create_all(engine)

        platform_create = partial(create_each, runtime)
        hand_create = partial(create_each_by_hand, engine)

        def platform_import(text: str) -> None:
            with runtime.transaction() as session:
                report = import_csv(runtime.records(session), "item", text)
            assert report.ok, report.errors

        def import_by_hand(text: str) -> None:
            with engine.begin() as conn:
                hand_import.import_csv(conn, text)

        start = iter(range(0, 10**9, n))

        def numbers() -> range:
            first = next(start)
            return range(first, first + n)

        for run in (platform_create, hand_create):  # warm-up
            run(range(10**9, 10**9 + 20))
        for run in (platform_import, import_by_hand):
            run(csv_text(range(10**9 + 20, 10**9 + 40)))
        calls = {
            "create, platform": counted(platform_create, numbers()),
            "create, by hand": counted(hand_create, numbers()),
            "import, platform": counted(platform_import, csv_text(numbers())),
            "import, by hand": counted(import_by_hand, csv_text(numbers())),
        }
        times: dict[str, list[float]] = {side: [] for side in calls}
        for _round in range(args.rounds):
            times["create, platform"].append(cpu(platform_create, numbers()))
            times["create, by hand"].append(cpu(hand_create, numbers()))
            times["import, platform"].append(cpu(platform_import, csv_text(numbers())))
            times["import, by hand"].append(cpu(import_by_hand, csv_text(numbers())))
        runtime.dispose()
        engine.dispose()
    print(f"calls and CPU time per record ({backend(url)}, {n} a round, {args.rounds} rounds)")
    for side, count in calls.items():
        seconds = statistics.median(times[side])
        print(f"  {side:18s} {count / n:7.0f} calls   {seconds / n * 1e6:7.0f} us CPU")
    for path in ("create", "import"):
        ratio = statistics.median(times[f"{path}, platform"]) / statistics.median(
            times[f"{path}, by hand"]
        )
        print(f"  {path}: platform CPU time / by hand {ratio:5.2f}x")


if __name__ == "__main__":
    main()
