"""Lead conversion latency (the demo CRM): a lead into a contact, a company and a deal, with
the duplicate checks, through ``trellis.conversion.convert``, on a near-empty database and
again after ``--n`` contacts and ``--n`` companies have been loaded.

    python benchmarks/bench_conversion.py --n 2000 --repeat 30        # quick check
    python benchmarks/bench_conversion.py --n 50000                   # full

Each conversion is one transaction, as the API runs it. Besides the wall time, each round
prints the median thread CPU time of a conversion (what it costs before any waiting for the
cores or the database server) and the statements it runs (BEGIN and COMMIT included where the
driver sends them as statements, i.e. on PostgreSQL). The leads are created through the
record service and the contacts and companies loaded with bulk Core inserts (neither is
timed; the database is analysed after the load). Issue 12 goal: at most 10 ms per
conversion, flat as data grows (here: the median after the load at most 1.25x the median
before it).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from common import (
    analyze,
    backend,
    chunks,
    database,
    latency_line,
    median,
    parser,
    platform_settings,
    verdict,
)
from sqlalchemy import event, insert

from trellis.conversion.convert import convert
from trellis.demo import load_demo
from trellis.runtime import Runtime

GOAL_MS = 10.0
FLAT = 1.25
SOURCES = ["website", "call", "email", "advertising", "partner"]


def lead(i: int) -> dict[str, Any]:
    return {
        "name": f"Enquiry {i}",
        "first_name": f"Lead{i}",
        "last_name": f"Person{i}",
        "company_name": f"Lead Company {i}",
        "email": f"lead{i}@leads.example",
        "phone": f"+372 7{i:07d}",
        "source": SOURCES[i % len(SOURCES)],
        "amount": {"amount": f"{1000 + i}.00", "currency": "EUR"},
        "industry": "it",
    }


def load_people(runtime: Runtime, n: int) -> None:
    """``n`` companies and ``n`` contacts (each at a company), as bulk inserts."""
    now = datetime(2026, 11, 1)
    system = {"version": 1, "created_at": now, "updated_at": now}
    with runtime.transaction() as session:
        model = runtime.model(session)
        company, contact = model.entities["company"].table, model.entities["contact"].table
    blank = {t.name: {c.name: None for c in t.c if c.name != "id"} for t in (company, contact)}
    for numbers in chunks(n, 10_000):
        with runtime.engine.begin() as conn:
            ids = conn.execute(
                insert(company).returning(company.c.id, sort_by_parameter_order=True),
                [
                    {
                        **blank[company.name],
                        **system,
                        "name": f"Company {i}",
                        "tin": f"EE{i:09d}",
                        "company_type": "customer",
                        "industry": "retail",
                        "phone": f"+372 6{i:07d}",
                        "email": f"office@company{i}.example",
                    }
                    for i in numbers
                ],
            ).scalars()
            conn.execute(
                insert(contact),
                [
                    {
                        **blank[contact.name],
                        **system,
                        "first_name": f"First{i}",
                        "last_name": f"Last{i}",
                        "email": f"person{i}@company{i}.example",
                        "phone": f"+372 5{i:07d}",
                        "source": "website",
                        "company_id": company_id,
                    }
                    for i, company_id in zip(numbers, ids, strict=True)
                ],
            )
        print(f"  loaded {numbers.stop:,}/{n:,} contacts and companies", end="\r", flush=True)
    print()
    analyze(runtime.engine)


class Round:
    """Wall and thread CPU seconds, and statements, of each conversion of a round."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.statements: list[int] = []

    def lines(self, label: str) -> list[str]:
        return [
            latency_line(label, self.wall, indent=2),
            f"    CPU per conversion p50 {median(self.cpu) * 1000:.2f} ms; statements "
            f"{min(self.statements)}-{max(self.statements)}",
        ]


def conversions(runtime: Runtime, leads: list[int]) -> Round:
    """Each conversion's timings (a contact, a company and a deal per lead)."""
    out = Round()
    counted = [0]

    def count(*_: Any) -> None:
        counted[0] += 1

    event.listen(runtime.engine, "before_cursor_execute", count)
    try:
        for lead_id in leads:
            counted[0] = 0
            began, cpu = time.perf_counter(), time.thread_time()
            with runtime.transaction() as session:
                result = convert(
                    runtime.records(session),
                    "lead",
                    lead_id,
                    {"contact": {}, "company": {"tin": f"LT{lead_id:09d}"}, "deal": {}},
                )
            out.cpu.append(time.thread_time() - cpu)
            out.wall.append(time.perf_counter() - began)
            out.statements.append(counted[0])
            if not result.ok:
                raise SystemExit(f"The conversion of lead {lead_id} failed: {result.errors}")
    finally:
        event.remove(runtime.engine, "before_cursor_execute", count)
    return out


def main() -> None:
    p = parser(__doc__, 50_000, "contacts and companies loaded between the two rounds")
    p.add_argument("--repeat", type=int, default=200, help="conversions per round")
    args = p.parse_args()
    url = args.database_url
    with database(url) as db_url:
        runtime = Runtime.from_settings(platform_settings(db_url))
        runtime.initialise()
        load_demo(runtime)
        with runtime.transaction() as session:
            records = runtime.records(session)
            leads = [records.create("lead", lead(i)).id for i in range(2 * args.repeat + 10)]
        conversions(runtime, leads[:10])  # warm-up, not timed
        before = conversions(runtime, leads[10 : 10 + args.repeat])
        load_people(runtime, args.n)
        after = conversions(runtime, leads[10 + args.repeat :])
        runtime.dispose()
    print(f"lead conversion (demo CRM, {backend(url)}), {args.repeat} conversions per round")
    print("\n".join(before.lines("demo data only")))
    print("\n".join(after.lines(f"after {args.n:,} contacts + companies")))
    p50s = [median(s.wall) * 1000 for s in (before, after)]
    growth = p50s[1] / p50s[0]
    print(
        f"  goal p50 <= {GOAL_MS:.0f} ms: {verdict(max(p50s) <= GOAL_MS)}; growth "
        f"{growth:.2f}x, goal flat (<= {FLAT}x): {verdict(growth <= FLAT)}"
    )


if __name__ == "__main__":
    main()
